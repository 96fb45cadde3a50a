#!/usr/bin/env node
// @ts-check
// Registers existing Stream users with the deployed Worker, so reconciliation
// may delete them once they are deleted from Firebase (for apps migrating from
// the Cloud Functions, whose users this service did not create).
//
//   ADMIN_TOKEN=… node scripts/import-users.mjs --worker https://<worker> --uids uids.txt
//   ADMIN_TOKEN=… STREAM_API_KEY=… STREAM_API_SECRET=… node scripts/import-users.mjs --worker https://<worker> --from-stream [--role user]
//
// --uids FILE      one uid per line (e.g. exported with `firebase auth:export`)
// --from-stream    every Stream user with the given role (default "user"; admins and bots are left out)
// --tenant ID      the Identity Platform tenant these users belong to (lookups are scoped to it)
// --dry-run        print what would be imported
// Only import uids that are Firebase uids: reconciliation deletes a registered
// uid from Stream when Firebase does not know it.
import { readFileSync } from 'node:fs';
import { parseCli } from './lib/cli.mjs';
import { DEFAULT_STREAM_BASE_URL, queryUsers, StreamHttpError } from './lib/stream-api.mjs';

const { values } = parseCli(import.meta.url, {
  worker: { type: 'string' },
  uids: { type: 'string' },
  'from-stream': { type: 'boolean', default: false },
  role: { type: 'string', default: 'user' },
  tenant: { type: 'string', default: '' },
  'stream-base-url': { type: 'string', default: process.env.STREAM_BASE_URL ?? DEFAULT_STREAM_BASE_URL },
  'dry-run': { type: 'boolean', default: false },
});

/**
 * @param {string} message
 * @returns {never}
 */
function fail(message) {
  console.error(`import-users: ${message}`);
  process.exit(2);
}

const adminToken = process.env.ADMIN_TOKEN;
if (!values.worker) fail('--worker <url> is required');
if (!adminToken && !values['dry-run']) fail('set ADMIN_TOKEN in the environment (never on the command line)');
if (Boolean(values.uids) === values['from-stream']) fail('give exactly one of --uids FILE or --from-stream');

async function* uidsFromStream() {
  const apiKey = process.env.STREAM_API_KEY;
  const secret = process.env.STREAM_API_SECRET;
  if (!apiKey || !secret) fail('--from-stream needs STREAM_API_KEY and STREAM_API_SECRET in the environment');
  const access = { baseUrl: /** @type {string} */ (values['stream-base-url']), apiKey, secret };
  // Page by (created_at, id), since Stream caps offset at 1000: each page starts at the last
  // created_at seen, skipping (by offset) the users at exactly that instant already read. So users
  // created in the same instant are neither skipped nor read twice (up to 1000 per instant).
  let after = '1970-01-01T00:00:00Z';
  let readAtAfter = 0;
  for (;;) {
    const payload = {
      filter_conditions: { role: { $eq: values.role }, created_at: { $gte: after } },
      sort: [
        { field: 'created_at', direction: 1 },
        { field: 'id', direction: 1 },
      ],
      presence: false,
      limit: 100,
      offset: readAtAfter,
    };
    const users = await queryUsers(access, payload).catch((error) => {
      if (error instanceof StreamHttpError) fail(`Stream answered HTTP ${error.status} to queryUsers`);
      throw error;
    });
    for (const user of users) if (!user.deleted_at) yield user.id;
    if (users.length < 100) return;
    const last = /** @type {string} */ (users[users.length - 1]?.created_at);
    if (last === after) {
      readAtAfter += users.length; // the whole page was at the same instant
    } else {
      after = last;
      readAtAfter = users.filter((user) => user.created_at === last).length;
    }
  }
}

/** @param {string} path */
function* uidsFromFile(path) {
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const uid = line.trim();
    if (uid && !uid.startsWith('#')) yield uid;
  }
}

/**
 * @param {string[]} batch
 * @returns {Promise<number>} how many were newly registered
 */
async function send(batch) {
  if (values['dry-run']) {
    console.log(batch.join('\n'));
    return batch.length;
  }
  const response = await fetch(`${/** @type {string} */ (values.worker).replace(/\/+$/, '')}/v1/admin/registry/import`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(values.tenant ? { uids: batch, tenant: values.tenant } : { uids: batch }),
  });
  if (!response.ok) fail(`the Worker answered HTTP ${response.status}: ${await response.text()}`);
  return (await response.json()).added;
}

/** @type {string[]} */
let batch = [];
let received = 0;
let added = 0;
const source = values['from-stream'] ? uidsFromStream() : uidsFromFile(/** @type {string} */ (values.uids));
for await (const uid of source) {
  if (!/^[A-Za-z0-9@_-]{1,255}$/.test(uid)) {
    console.warn(`skipping "${uid}": not a valid Stream user id`);
    continue;
  }
  batch.push(uid);
  received++;
  if (batch.length === 500) {
    added += await send(batch);
    batch = [];
  }
}
if (batch.length) added += await send(batch);
console.error(`import-users: ${received} uids read, ${added} newly registered${values['dry-run'] ? ' (dry run)' : ''}`);

#!/usr/bin/env node
// Makes sure the D1 database behind a binding exists and that its id is in the
// Wrangler config, so `wrangler d1 migrations apply <binding> --remote` can run
// BEFORE `wrangler deploy` (the Worker writes to tables the migrations create).
//
// Why this exists: `wrangler deploy` creates a missing database by itself
// (automatic provisioning, when `database_id` is left out), but Wrangler 4.86
// only writes the new id back to the config interactively, never in CI, and
// never into a .toml file with comments; and `wrangler d1 migrations apply
// --remote` refuses a binding without `database_id` ("… it is missing a
// database_id, which is needed for operations on remote resources").
//
//   node scripts/ensure-d1-database.mjs [--config wrangler.toml] [--binding DB]
//
// With a real database_id already in the config it does nothing. Otherwise it
// looks the database up by `database_name` (`wrangler d1 list --json`),
// creates it if there is none (`wrangler d1 create`), and writes its id into
// the config file. Needs CLOUDFLARE_API_TOKEN (and CLOUDFLARE_ACCOUNT_ID when
// the token sees several accounts), or a `wrangler login`.
// WRANGLER_BIN overrides the Wrangler entry point (the tests use a stand-in).
// A failure is one line (and wrangler's own output), never a stack trace.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseCli } from './lib/cli.mjs';

const PLACEHOLDER_ID = /^0{8}-0{4}-0{4}-0{4}-0{12}$/;

const { values } = parseCli(import.meta.url, {
  config: { type: 'string', default: 'wrangler.toml' },
  binding: { type: 'string', default: 'DB' },
});
const configPath = values.config ?? 'wrangler.toml';
const bindingName = values.binding ?? 'DB';
const wranglerBin = process.env.WRANGLER_BIN ?? fileURLToPath(new URL('../node_modules/wrangler/bin/wrangler.js', import.meta.url));

/**
 * The lines of the `[[d1_databases]]` table whose `binding` is `name`, found
 * without a TOML library: `key = "value"` lines until the next table header.
 * @param {string[]} lines
 * @param {string} name
 */
function findBinding(lines, name) {
  for (let start = 0; start < lines.length; start++) {
    if ((lines[start] ?? '').trim() !== '[[d1_databases]]') continue;
    let end = start + 1;
    while (end < lines.length && !(lines[end] ?? '').trim().startsWith('[')) end++;
    /** @type {Record<string, { line: number, value: string }>} */
    const keys = {};
    for (let i = start + 1; i < end; i++) {
      const match = /^\s*(\w+)\s*=\s*"([^"]*)"/.exec(lines[i] ?? '');
      if (match?.[1] && match[2] !== undefined) keys[match[1]] = { line: i, value: match[2] };
    }
    if (keys.binding?.value === name) return keys;
  }
  return undefined;
}

/** @param {string[]} args */
function wrangler(args) {
  const result = spawnSync(process.execPath, [wranglerBin, ...args, '--config', configPath], {
    encoding: 'utf8',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  if (result.status !== 0) {
    process.stderr.write(result.stdout + result.stderr);
    throw new Error(`wrangler ${args.join(' ')} failed (exit ${result.status})`);
  }
  return result.stdout;
}

/** @param {string} databaseName */
function findDatabaseId(databaseName) {
  const out = wrangler(['d1', 'list', '--json']);
  /** @type {{ name: string, uuid: string }[]} */
  const databases = JSON.parse(out.slice(out.indexOf('[')));
  return databases.find((db) => db.name === databaseName)?.uuid;
}

function ensure() {
  const text = readFileSync(configPath, 'utf8');
  const lines = text.split('\n');
  const binding = findBinding(lines, bindingName);
  if (!binding) throw new Error(`${configPath} has no [[d1_databases]] with binding = "${bindingName}"`);
  const nameEntry = binding.database_name;
  if (!nameEntry?.value) throw new Error(`${configPath}: the ${bindingName} binding has no database_name`);
  const databaseName = nameEntry.value;
  const currentId = binding.database_id?.value;

  if (currentId && !PLACEHOLDER_ID.test(currentId)) {
    console.log(`D1 ${bindingName}: database_id ${currentId} is set in ${configPath}; nothing to do.`);
  } else {
    let id = findDatabaseId(databaseName);
    if (id) {
      console.log(`D1 ${bindingName}: found the existing database "${databaseName}" (${id}).`);
    } else {
      console.log(`D1 ${bindingName}: no database "${databaseName}" yet; creating it.`);
      wrangler(['d1', 'create', databaseName]);
      id = findDatabaseId(databaseName);
      if (!id) throw new Error(`created "${databaseName}" but cannot find it in wrangler d1 list`);
    }
    const idLine = `database_id = "${id}"`;
    if (binding.database_id) lines[binding.database_id.line] = idLine;
    else lines.splice(nameEntry.line + 1, 0, idLine);
    writeFileSync(configPath, lines.join('\n'));
    console.log(`D1 ${bindingName}: wrote ${idLine} into ${configPath} (commit it to skip this lookup next time).`);
  }
}

try {
  ensure();
} catch (error) {
  console.error(`ensure-d1-database: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
}

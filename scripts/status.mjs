#!/usr/bin/env node
// @ts-check
// `npm run status`: GET /v1/admin/reconcile/status for a person: registry counts, backlog, the last run,
// and the sweep's progress as a bar.
//   npm run status -- --url https://<worker>   the token from ADMIN_TOKEN in the environment, or typed when asked
//                                              (DOCTOR_URL may replace --url)
//   npm run status                             the local `npm start`, while it runs (its URL and its token)
// The admin token is never accepted on the command line.
import { adminGet, adminTarget } from './lib/admin-target.mjs';
import { parseCli } from './lib/cli.mjs';

const { values } = parseCli(import.meta.url, { url: { type: 'string' }, 'admin-token': { type: 'string' } });
const target = await adminTarget({ name: 'status', url: values.url, adminToken: values['admin-token'] });
const url = target.url;
/** @type {any} */
const status = await adminGet(target, '/v1/admin/reconcile/status', 'status');
const counts = status.registry ?? status.counts ?? {};
const sweep = status.sweep ?? {};
const last = status.last_run ?? status.lastRun ?? null;
/** @param {number} done @param {number} total */
const bar = (done, total, width = 30) => {
  if (!total) return '[' + ' '.repeat(width) + ']';
  const filled = Math.min(width, Math.round((done / total) * width));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
};
console.log(`reconciliation: ${url}`);
console.log(
  `  registry   active ${counts.active ?? '?'}   pending deletion ${counts.pending_delete ?? '?'}   deleted ${counts.deleted ?? '?'}`,
);
console.log(
  `  sweep      ${bar(sweep.done ?? sweep.sweepDone ?? 0, sweep.total ?? sweep.sweepTotal ?? 0)}${sweep.projected_completion ? `   done by ${sweep.projected_completion}` : ''}`,
);
if (last) {
  const at = last.started_at ? new Date(last.started_at).toISOString() : '?';
  console.log(
    `  last run   ${at}: checked ${last.checked}, deleted ${last.deleted}, braked ${last.braked}, failed ${last.failed}, due later ${last.deferred}${last.error ? `\n             stopped: ${last.error}` : ''}`,
  );
} else console.log('  last run   never');
for (const pending of (status.oldest_pending ?? []).slice(0, 5)) {
  console.log(`  pending    ${pending.uid}  failures ${pending.failures}${pending.last_error ? `  ${pending.last_error}` : ''}`);
}

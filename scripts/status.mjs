#!/usr/bin/env node
// @ts-check
// `npm run status`: GET /v1/admin/reconcile/status for a person: registry counts, backlog, the last run,
// and the sweep's progress as a bar.
//   npm run status -- --url https://<worker> --admin-token <token>   (or DOCTOR_URL / ADMIN_TOKEN; or the local npm start)
import { adminTarget } from './lib/admin-target.mjs';

const { url, token } = adminTarget('Usage: npm run status -- --url https://<worker> --admin-token <ADMIN_TOKEN> (or DOCTOR_URL and ADMIN_TOKEN; or run npm start first)');
const response = await fetch(`${url}/v1/admin/reconcile/status`, { headers: { Authorization: `Bearer ${token}` } });
if (!response.ok) {
  console.error(`${url} answered HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
  process.exit(1);
}
/** @type {any} */
const status = await response.json();
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
console.log(`  registry   active ${counts.active ?? '?'}   pending deletion ${counts.pending_delete ?? '?'}   deleted ${counts.deleted ?? '?'}`);
console.log(`  sweep      ${bar(sweep.done ?? sweep.sweepDone ?? 0, sweep.total ?? sweep.sweepTotal ?? 0)}${sweep.projected_completion ? `   done by ${sweep.projected_completion}` : ''}`);
if (last) {
  const at = last.started_at ? new Date(last.started_at).toISOString() : '?';
  console.log(`  last run   ${at}: checked ${last.checked}, deleted ${last.deleted}, braked ${last.braked}, failed ${last.failed}, due later ${last.deferred}${last.error ? `\n             stopped: ${last.error}` : ''}`);
} else console.log('  last run   never');
for (const pending of (status.oldest_pending ?? []).slice(0, 5)) {
  console.log(`  pending    ${pending.uid}  failures ${pending.failures}${pending.last_error ? `  ${pending.last_error}` : ''}`);
}

#!/usr/bin/env node
// @ts-check
// `npm run doctor`: asks a deployed Worker's GET /v1/admin/doctor and prints one line per check, with
// what to do for each warning or failure; exits 1 on any failure.
//   npm run doctor -- --url https://<worker> --admin-token <token>   (or DOCTOR_URL / ADMIN_TOKEN)
//   npm run doctor                                                    (the local `npm start`, from its run file)
import { adminTarget } from './lib/admin-target.mjs';

const { url, token } = adminTarget('Usage: npm run doctor -- --url https://<worker> --admin-token <ADMIN_TOKEN> (or DOCTOR_URL and ADMIN_TOKEN; or run npm start first)');
const response = await fetch(`${url}/v1/admin/doctor`, { headers: { Authorization: `Bearer ${token}` } }).catch((error) => {
  console.error(`Could not reach ${url}: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
if (response.status === 404) {
  console.error(`${url} has no doctor: set the ADMIN_TOKEN secret (npx wrangler secret put ADMIN_TOKEN) and deploy`);
  process.exit(1);
}
if (!response.ok) {
  console.error(`${url} answered HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
  // A Worker whose settings do not parse answers every route but /healthz with 500: that one names them.
  const health = await fetch(`${url}/healthz`).then((r) => r.json()).catch(() => null);
  if (health?.status === 'misconfigured') console.error(`  ✗ settings  fail  these settings do not parse: ${health.settings.join(', ')}`);
  process.exit(1);
}
/** @type {{ ok: boolean; checks: { name: string; status: 'ok' | 'warn' | 'fail'; detail: string }[] }} */
const report = await response.json();
const mark = { ok: '✓', warn: '!', fail: '✗' };
const width = Math.max(...report.checks.map((check) => check.name.length));
console.log(`doctor: ${url}`);
for (const check of report.checks) console.log(`  ${mark[check.status]} ${check.name.padEnd(width)}  ${check.status.padEnd(4)}  ${check.detail}`);
console.log(report.ok ? '\nNo failures.' : '\nFailures above: fix them, then run the doctor again.');
process.exit(report.ok ? 0 : 1);

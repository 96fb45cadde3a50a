#!/usr/bin/env node
// @ts-check
// `npm run doctor`: asks a deployed Worker's GET /v1/admin/doctor and prints one line per check, with
// what to do for each warning or failure; exits 1 on any failure.
//   npm run doctor -- --url https://<worker>   the token from ADMIN_TOKEN in the environment, or typed when asked
//                                              (DOCTOR_URL may replace --url)
//   npm run doctor                             the local `npm start`, while it runs (its URL and its token)
// The admin token is never accepted on the command line.
import { adminGet, adminTarget } from './lib/admin-target.mjs';
import { parseCli } from './lib/cli.mjs';

const { values } = parseCli(import.meta.url, { url: { type: 'string' }, 'admin-token': { type: 'string' } });
const target = await adminTarget({ name: 'doctor', url: values.url, adminToken: values['admin-token'] });
/** @type {{ ok: boolean; checks: { name: string; status: 'ok' | 'warn' | 'fail'; detail: string }[] }} */
const report = await adminGet(target, '/v1/admin/doctor', 'doctor');
const mark = { ok: '✓', warn: '!', fail: '✗' };
const width = Math.max(...report.checks.map((check) => check.name.length));
console.log(`doctor: ${target.url}`);
for (const check of report.checks)
  console.log(`  ${mark[check.status]} ${check.name.padEnd(width)}  ${check.status.padEnd(4)}  ${check.detail}`);
console.log(report.ok ? '\nNo failures.' : '\nFailures above: fix them, then run the doctor again.');
process.exit(report.ok ? 0 : 1);

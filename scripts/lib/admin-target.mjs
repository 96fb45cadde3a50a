// @ts-check
// Which Worker the operator scripts (doctor, status) ask, and with which admin token: --url and
// --admin-token, else DOCTOR_URL and ADMIN_TOKEN, else the local `npm start` (its run file).
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RUN_FILE } from './run-file.mjs';

/**
 * @param {string} usage printed when neither is known
 * @returns {{ url: string; token: string }} url without a trailing slash
 */
export function adminTarget(usage) {
  const { values } = parseArgs({ options: { url: { type: 'string' }, 'admin-token': { type: 'string' } } });
  const local = existsSync(RUN_FILE) ? JSON.parse(readFileSync(RUN_FILE, 'utf8')) : {};
  const url = values.url ?? process.env.DOCTOR_URL ?? local.workerUrl;
  const token = values['admin-token'] ?? process.env.ADMIN_TOKEN ?? local.adminToken;
  if (!url || !token) {
    console.error(usage);
    process.exit(2);
  }
  return { url: url.replace(/\/+$/, ''), token };
}

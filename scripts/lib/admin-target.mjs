// @ts-check
// Which Worker the operator scripts (doctor, status) ask, and with which admin token. Both come from
// one source, so a production token is never sent to a URL from somewhere else:
//   - a Worker named by --url or DOCTOR_URL: the token from ADMIN_TOKEN in the environment, else typed
//     at a prompt (never echoed);
//   - nothing named: the `npm start` running now (its run file): its URL and its own token, and then
//     an ADMIN_TOKEN in the environment is refused, since nothing says which Worker it belongs to.
// The token is never taken from the command line (it would show in `ps` and the shell's history),
// and the URL must be https unless it is a loopback address.
import { readLocalRun } from './run-file.mjs';

/**
 * @typedef {{ url: string; token: string; source: 'named' | 'local' }} AdminTarget url without a trailing slash
 */

/** @param {string} message @returns {never} */
function fail(message) {
  console.error(message);
  process.exit(2);
}

/** @param {string} hostname as URL parses it (IPv6 in brackets) */
function isLoopback(hostname) {
  return (
    hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

/**
 * The Worker's URL, refused unless https or loopback.
 * @param {string} given
 * @param {string} where where it came from, for the message
 * @param {string} name the npm script
 */
function workerUrl(given, where, name) {
  /** @type {URL} */
  let url;
  try {
    url = new URL(given);
  } catch {
    return fail(`${name}: ${where} is not a URL: ${given}`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    fail(`${name}: ${where} must be https:// (plain http:// only for 127.0.0.1 or localhost): the admin token would travel in clear`);
  }
  return url.href.replace(/\/+$/, '');
}

/**
 * Reads a line from the terminal without echoing it.
 * @param {string} question
 * @returns {Promise<string>}
 */
async function promptSecret(question) {
  const input = process.stdin;
  process.stderr.write(question);
  input.setRawMode(true);
  input.resume();
  let typed = '';
  try {
    for await (const chunk of input) {
      for (const char of String(chunk)) {
        if (char === '\r' || char === '\n') return typed;
        if (char === '\u0003') process.exit(130); // Ctrl-C
        typed = char === '\u007f' || char === '\b' ? typed.slice(0, -1) : typed + char;
      }
    }
    return typed;
  } finally {
    input.setRawMode(false);
    input.pause();
    process.stderr.write('\n');
  }
}

/**
 * @param {{ name: string; url?: string; adminToken?: string }} args name: the npm script (for messages); url, adminToken:
 *   the --url and --admin-token options as given
 * @returns {Promise<AdminTarget>}
 */
export async function adminTarget({ name, url, adminToken }) {
  if (adminToken !== undefined) {
    fail(
      `${name}: --admin-token is not accepted (the command line shows in ps and your shell's history): set ADMIN_TOKEN in the environment, or leave it unset to be asked`,
    );
  }
  const named = url ?? process.env.DOCTOR_URL;
  const envToken = process.env.ADMIN_TOKEN;
  if (named) {
    const target = workerUrl(named, url ? '--url' : 'DOCTOR_URL', name);
    if (envToken) return { url: target, token: envToken, source: 'named' };
    if (!process.stdin.isTTY)
      fail(`${name}: set ADMIN_TOKEN in the environment to the Worker's ADMIN_TOKEN secret (no terminal to ask for it)`);
    const typed = await promptSecret(`ADMIN_TOKEN of ${target}: `);
    if (!typed) fail(`${name}: no admin token given`);
    return { url: target, token: typed, source: 'named' };
  }
  const local = readLocalRun();
  if (local && envToken) {
    fail(
      `${name}: ADMIN_TOKEN is set but no Worker is named: give --url https://<worker> (or DOCTOR_URL), or unset ADMIN_TOKEN to ask the local npm start`,
    );
  }
  if (local) return { url: workerUrl(local.workerUrl, 'the local run file', name), token: local.adminToken, source: 'local' };
  return fail(
    `Usage: npm run ${name} -- --url https://<worker>   (ADMIN_TOKEN in the environment, or typed when asked; DOCTOR_URL may replace --url)\n       npm run ${name}                            (the local npm start, while it runs)`,
  );
}

/**
 * GET an admin route and return its JSON; any other answer ends the script with one line saying what
 * to do (the routes answer 404 while the Worker has no ADMIN_TOKEN secret).
 * @param {AdminTarget} target
 * @param {string} path
 * @param {string} name the npm script, for messages
 * @returns {Promise<any>}
 */
export async function adminGet(target, path, name) {
  const { url, token } = target;
  /** @type {Response} */
  let response;
  try {
    response = await fetch(`${url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  } catch (error) {
    const why = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    console.error(`${name}: could not reach ${url} (${why})`);
    process.exit(1);
  }
  if (response.ok) return response.json();
  if (response.status === 404) {
    console.error(`${url} has no admin routes: set the ADMIN_TOKEN secret (npx wrangler secret put ADMIN_TOKEN) and deploy`);
  } else if (response.status === 401 || response.status === 403) {
    console.error(`${url} refused the admin token (HTTP ${response.status}): ADMIN_TOKEN must be the Worker's ADMIN_TOKEN secret`);
  } else {
    console.error(`${url} answered HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
    // A Worker whose settings do not parse answers every route but /healthz with 500: that one names them.
    const health = await fetch(`${url}/healthz`)
      .then((r) => r.json())
      .catch(() => null);
    if (health?.status === 'misconfigured')
      console.error(
        `  ✗ settings  fail  these settings are wrong (the Worker's log, event invalid_config, says why): ${(health.settings ?? []).join(', ')}`,
      );
  }
  process.exit(1);
}

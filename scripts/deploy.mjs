#!/usr/bin/env node
// @ts-check
// `npm run deploy`: checks the configuration, then (1) makes sure the D1 database exists and its id is in
// the configuration (scripts/ensure-d1-database.mjs), (2) applies the migrations to it, (3) runs
// `wrangler deploy`, and (4) turns on D1 read replication (Cloudflare's REST API, with
// CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID; when that token cannot, it prints the dashboard step).
//
//   npm run deploy [-- --dry-run] [--config wrangler.toml] [--var NAME:VALUE ...]
//
// --dry-run   needs no account and uploads nothing: builds the bundle as `wrangler deploy` would and shows
//             what would be deployed (bindings, vars, the secrets still missing, the bundle's size), and
//             exits 1 if the real deploy would refuse the configuration.
// --var       a var for this deploy, as `wrangler deploy --var` takes it (checked like wrangler.toml's).
//
// Refused before anything is uploaded: ALLOW_AUTH_EMULATOR = "true"; the placeholders wrangler.toml ships,
// FIREBASE_PROJECT_ID = "demo-…" (with FIREBASE_JWKS_URL at its default) and STREAM_API_KEY = "localdevkey"
// (with STREAM_BASE_URL at its default). Without an account (CLOUDFLARE_API_TOKEN or `wrangler login`) it
// says so in one line. Every step is idempotent: the same command updates a deployed Worker.
// WRANGLER_BIN replaces wrangler's entry point and CLOUDFLARE_API_BASE_URL the API's address (wrangler reads
// it too): the tests use stand-ins for both.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBundle } from './check-bundle.mjs';
import { parseCli } from './lib/cli.mjs';
import { d1Database, deployVars, refusals } from './lib/deploy-config.mjs';
import { removeTempDir, stopAllOnSignals, tempDir } from './lib/process.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const WRANGLER = process.env.WRANGLER_BIN ?? join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
const API_BASE = (process.env.CLOUDFLARE_API_BASE_URL ?? 'https://api.cloudflare.com/client/v4').replace(/\/+$/, '');
const ENV = { ...process.env, WRANGLER_SEND_METRICS: 'false' };

/** The Worker's secrets, and what each is for. */
const SECRETS = [
  { name: 'STREAM_API_SECRET', why: 'required: the Worker signs Stream tokens with it' },
  { name: 'GOOGLE_SERVICE_ACCOUNT', why: 'the deletion cron asks Firebase with it' },
  { name: 'ADMIN_TOKEN', why: 'optional: the admin routes, the doctor and status' },
];

const { values } = parseCli(import.meta.url, {
  'dry-run': { type: 'boolean', default: false },
  config: { type: 'string', default: 'wrangler.toml' },
  var: { type: 'string', multiple: true, default: [] },
});
const dryRun = Boolean(values['dry-run']);
const config = resolve(String(values.config));
const cliVars = /** @type {string[]} */ (values.var);
const varArgs = cliVars.flatMap((pair) => ['--var', pair]);

/**
 * Ends the deploy with one line, never a stack trace.
 * @param {string} message
 * @returns {never}
 */
function stop(message) {
  console.error(`npm run deploy: ${message}`);
  process.exit(1);
}

/**
 * Runs wrangler; its output goes to the terminal unless captured.
 * @param {string[]} args
 * @param {{ capture?: boolean }} [options]
 */
function wrangler(args, options = {}) {
  const result = spawnSync(process.execPath, [WRANGLER, ...args], {
    cwd: ROOT,
    env: ENV,
    encoding: 'utf8',
    stdio: options.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
  });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

/** Whether wrangler can reach an account: an API token, or a `wrangler login` that whoami accepts. */
function hasAccount() {
  if (process.env.CLOUDFLARE_API_TOKEN) return true;
  const whoami = wrangler(['whoami'], { capture: true });
  return whoami.ok && !/not authenticated/i.test(whoami.output);
}

/**
 * The Worker's secrets already set, or null when that cannot be known (no account, or wrangler refused).
 * @returns {Set<string> | null}
 */
function secretsSet() {
  if (!process.env.CLOUDFLARE_API_TOKEN) return null;
  const listed = wrangler(['secret', 'list', '--format', 'json', '--config', config], { capture: true });
  if (!listed.ok) return null;
  try {
    const start = listed.output.indexOf('[');
    return new Set(
      /** @type {{ name: string }[]} */ (JSON.parse(listed.output.slice(start, listed.output.lastIndexOf(']') + 1))).map(
        (secret) => secret.name,
      ),
    );
  } catch {
    return null;
  }
}

/** @param {Set<string> | null} set */
function secretLines(set) {
  if (!set) return SECRETS.map(({ name, why }) => `  ? ${name.padEnd(23)} ${why} (not checked: needs CLOUDFLARE_API_TOKEN)`);
  return SECRETS.map(({ name, why }) =>
    set.has(name) ? `  ✓ ${name.padEnd(23)} set` : `  ✗ ${name.padEnd(23)} missing: npx wrangler secret put ${name}   (${why})`,
  );
}

/** What wrangler's dry run lists between its bindings header and its exit line. */
function bindingsOf(/** @type {string} */ output) {
  const lines = output.split(/\r?\n/);
  const start = lines.findIndex((line) => line.startsWith('Your Worker has access'));
  const end = lines.findIndex((line) => line.startsWith('--dry-run'));
  return start < 0 ? [] : lines.slice(start + 1, end < 0 ? undefined : end).filter((line) => line.trim());
}

function dryRunReport() {
  const toml = readFileSync(config, 'utf8');
  const outdir = tempDir('deploy-dry-run-');
  /** @type {ReturnType<typeof buildBundle>} */
  let bundle;
  try {
    bundle = buildBundle(outdir, { config, args: varArgs });
  } catch (error) {
    const output = /** @type {{ stdout?: string; stderr?: string }} */ (error);
    process.stderr.write(`${output.stdout ?? ''}${output.stderr ?? ''}`);
    stop('the Worker does not build (wrangler deploy --dry-run failed; its output is above)');
  } finally {
    removeTempDir(outdir);
  }
  const database = d1Database(toml);
  console.log(`Dry run of npm run deploy with ${config} (nothing is uploaded; no account needed)\n`);
  console.log('Bindings and vars:');
  for (const line of bindingsOf(bundle.output)) console.log(`  ${line.trimEnd()}`);
  console.log(
    `\nD1 database "${database.name}": ${database.id ? `id ${database.id}` : 'no id yet: npm run deploy finds it by name or creates it, and writes its id into the configuration'}`,
  );
  console.log('\nSecrets:');
  for (const line of secretLines(secretsSet())) console.log(line);
  console.log(`\nBundle: ${(bundle.raw / 1024).toFixed(1)} KiB, ${(bundle.gzip / 1024).toFixed(1)} KiB gzip`);
}

/**
 * PUT read_replication mode auto on the database; the reason it could not, or null once on.
 * @param {string} databaseId
 * @returns {Promise<string | null>}
 */
async function enableReadReplication(databaseId) {
  const token = process.env.CLOUDFLARE_API_TOKEN;
  if (!token) return 'no CLOUDFLARE_API_TOKEN (a wrangler login is not used for this call)';
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  try {
    let account = process.env.CLOUDFLARE_ACCOUNT_ID;
    if (!account) {
      const listed = await fetch(`${API_BASE}/accounts`, { headers, signal: AbortSignal.timeout(15_000) });
      const accounts = listed.ok ? (/** @type {{ result?: { id: string }[] }} */ (await listed.json()).result ?? []) : [];
      if (accounts.length !== 1) return 'CLOUDFLARE_ACCOUNT_ID is not set and the token does not see exactly one account';
      account = /** @type {{ id: string }} */ (accounts[0]).id;
    }
    const response = await fetch(`${API_BASE}/accounts/${encodeURIComponent(account)}/d1/database/${encodeURIComponent(databaseId)}`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ read_replication: { mode: 'auto' } }),
      signal: AbortSignal.timeout(15_000),
    });
    if (response.status === 401 || response.status === 403) return `the API token may not edit D1 databases (HTTP ${response.status})`;
    const body = /** @type {{ success?: boolean; errors?: { message?: string }[] }} */ (await response.json().catch(() => ({})));
    if (!response.ok || body.success === false)
      return `the API answered HTTP ${response.status}${body.errors?.[0]?.message ? `: ${body.errors[0].message}` : ''}`;
    return null;
  } catch (error) {
    return `the API could not be reached (${error instanceof Error ? error.message : error})`;
  }
}

async function deploy() {
  if (!hasAccount()) {
    stop(
      'no Cloudflare account: run `npx wrangler login`, or set CLOUDFLARE_API_TOKEN (and CLOUDFLARE_ACCOUNT_ID); `npm run deploy -- --dry-run` checks everything else without one',
    );
  }
  const missing = secretsSet();
  if (missing && !missing.has('STREAM_API_SECRET'))
    console.warn(
      '! STREAM_API_SECRET is not set: npx wrangler secret put STREAM_API_SECRET (until then /healthz names it as misconfigured)',
    );

  console.log('1/4 The D1 database');
  const ensured = spawnSync(process.execPath, [join(ROOT, 'scripts', 'ensure-d1-database.mjs'), '--config', config, '--binding', 'DB'], {
    cwd: ROOT,
    env: ENV,
    stdio: 'inherit',
  });
  if (ensured.status !== 0) stop('stopped at step 1, the D1 database (the reason is above); nothing was deployed');

  console.log('2/4 Migrations');
  if (!wrangler(['d1', 'migrations', 'apply', 'DB', '--remote', '--config', config]).ok)
    stop('stopped at step 2, the migrations (the reason is above); nothing was deployed');

  console.log('3/4 wrangler deploy');
  if (!wrangler(['deploy', '--config', config, ...varArgs]).ok)
    stop('stopped at step 3, wrangler deploy (the reason is above); the migrations are applied, the Worker is as it was');

  console.log('4/4 D1 read replication');
  const database = d1Database(readFileSync(config, 'utf8'));
  const why = database.id ? await enableReadReplication(database.id) : `no database_id in ${config}`;
  if (why) {
    console.log(
      `! D1 read replication is not on: ${why}.\n  Turn it on once in the Cloudflare dashboard: Storage & Databases → D1 → the database "${database.name}" → Settings → Read replication → Enable.`,
    );
  } else {
    console.log(`✓ D1 read replication is on for "${database.name}" (mode auto).`);
  }
  console.log('\nDeployed. Check it: curl https://<worker>/healthz, then npm run doctor -- --url https://<worker>');
}

stopAllOnSignals();
if (!existsSync(config)) stop(`no Wrangler configuration at ${config}`);
try {
  const problems = refusals(deployVars(readFileSync(config, 'utf8'), cliVars));
  if (dryRun) dryRunReport();
  if (problems.length > 0) {
    console.error(`\n${dryRun ? 'npm run deploy would refuse' : 'npm run deploy refuses'} ${config}, before uploading anything:`);
    for (const problem of problems) console.error(`  ✗ ${problem}`);
    process.exit(1);
  }
  if (dryRun) {
    console.log('\nDry run: the configuration would be accepted; nothing was uploaded.');
  } else {
    await deploy();
  }
} catch (error) {
  stop(error instanceof Error ? error.message : String(error));
}

// @ts-check
// Shared by bench/cold-start.mjs and bench/soak.mjs: the Worker bundle served by workerd through
// Miniflare's API (as bench/run.mjs does), D1 migrations, Firebase-shaped ID tokens signed by a
// test RSA key, the workerd process behind a Miniflare instance, and small statistics helpers.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { Miniflare } from 'miniflare';
import { onStop, tempDir } from '../../scripts/lib/process.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const COMPATIBILITY_DATE = /** @type {string} */ (
  /** @type {RegExpExecArray} */ (/compatibility_date\s*=\s*"([^"]+)"/.exec(readFileSync(join(ROOT, 'wrangler.toml'), 'utf8')))[1]
);
export const FLOOR_SCRIPT = join(ROOT, 'bench', 'contenders', 'floor-worker.js');
export const FLOOR_CACHE_SCRIPT = join(ROOT, 'bench', 'contenders', 'floor-cache-worker.js');

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Nearest-rank quantile (q in 0..1) of a non-empty list.
 * @param {number[]} values
 * @param {number} q
 */
export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return /** @type {number} */ (sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]);
}

/** pids of the workerd processes this Node process started (Miniflare spawns workerd directly). */
export function workerdChildren() {
  /** @type {Set<number>} */
  const pids = new Set();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && comm === 'workerd') pids.add(Number(entry));
    } catch {
      // gone in the meantime
    }
  }
  return pids;
}

/**
 * Resident set size of a process, from /proc/<pid>/status (VmRSS), in KiB; undefined once it is gone.
 * @param {number} pid
 */
export function vmRssKiB(pid) {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** @type {string | undefined} where startMiniflare's instances keep their temp folders */
let miniflareTemp;

/**
 * One Miniflare instance (a fresh workerd process, so a fresh isolate) on 127.0.0.1, with the
 * pid of its workerd process.
 * @param {ConstructorParameters<typeof Miniflare>[0] & { scriptPath: string }} options
 */
export async function startMiniflare(options) {
  const before = workerdChildren();
  // Miniflare makes its temp folder in os.tmpdir() when constructed, and removes it on dispose without
  // waiting: a script that exits right after (Ctrl-C) would leave it. Inside a folder of tempDir's it is
  // removed on any exit.
  miniflareTemp ??= tempDir('bench-miniflare-');
  const tmpdirBefore = process.env.TMPDIR;
  process.env.TMPDIR = miniflareTemp;
  /** @type {Miniflare} */
  let mf;
  try {
    mf = new Miniflare({
      modules: true,
      modulesRoot: dirname(options.scriptPath),
      compatibilityDate: COMPATIBILITY_DATE,
      compatibilityFlags: ['nodejs_als'], // as wrangler.toml
      host: '127.0.0.1',
      port: 0, // workerd picks a free one and Miniflare reports it: no window for another process to take it
      ...options,
    });
  } finally {
    if (tmpdirBefore === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpdirBefore;
  }
  // Stopped on Ctrl-C (stopAllOnSignals) from the moment it exists, also while it starts: Miniflare removes
  // its temp folder only when disposed. The script's own mf.dispose() takes it off that list.
  const dispose = mf.dispose.bind(mf);
  const forget = onStop(dispose);
  mf.dispose = () => (forget(), dispose());
  const url = (await mf.ready).href.replace(/\/$/, '');
  const pid = [...workerdChildren()].find((p) => !before.has(p));
  return { mf, url, pid };
}

/**
 * Applies every migration in migrations/ (in name order) to the D1 binding `binding`.
 * @param {Miniflare} mf
 * @param {string} [binding]
 */
export async function applyMigrations(mf, binding = 'DB') {
  const db = await mf.getD1Database(binding);
  const dir = join(ROOT, 'migrations');
  for (const file of readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort()) {
    const sql = readFileSync(join(dir, file), 'utf8');
    for (const statement of sql
      .replace(/--.*$/gm, '')
      .split(';')
      .map((s) => s.trim())
      .filter(Boolean))
      await db.prepare(statement).run();
  }
}

/** A test RSA key pair standing in for Google's, and the JWKS that publishes it. */
export function testSigningKey() {
  const kid = `bench-${randomBytes(4).toString('hex')}`;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwks = { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] };
  return { kid, privateKey, jwks };
}

/**
 * A Firebase-shaped RS256 ID token, as bench/run.mjs mints them.
 * @param {{ privateKey: import('node:crypto').KeyObject; kid: string; projectId: string; uid: string; name: string; picture?: string; iat?: number; ttlSeconds?: number; provider?: string }} options provider: `firebase.sign_in_provider` (e.g. anonymous)
 */
export function mintIdToken({
  privateKey,
  kid,
  projectId,
  uid,
  name,
  picture,
  iat = Math.floor(Date.now() / 1000),
  ttlSeconds = 3600,
  provider = 'password',
}) {
  return new SignJWT({
    name,
    ...(picture ? { picture } : {}),
    user_id: uid,
    auth_time: iat,
    firebase: { identities: {}, sign_in_provider: provider },
  })
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
    .setIssuer(`https://securetoken.google.com/${projectId}`)
    .setAudience(projectId)
    .setSubject(uid)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlSeconds)
    .sign(privateKey);
}

/**
 * Ends the process if the run overruns `ms` (a hung run must not linger): runs `cleanup`, then exits 2.
 * @param {number} ms
 * @param {() => Promise<void>} cleanup
 * @returns {() => void} disarms it
 */
export function watchdog(ms, cleanup) {
  const timer = setTimeout(async () => {
    console.error(`watchdog: the run took longer than ${Math.round(ms / 1000)} s; stopping`);
    await Promise.race([cleanup().catch(() => undefined), sleep(10_000)]);
    process.exit(2);
  }, ms);
  return () => clearTimeout(timer);
}

/**
 * The Durable Object and Rate Limiting bindings wrangler.toml declares, as Miniflare options, so the
 * Worker runs with what it is deployed with (vars and secrets are not read: each script sets its own,
 * and .dev.vars is never looked at). A Durable Object class is SQLite-backed when a migration names
 * it in `new_sqlite_classes`.
 * @returns {Promise<{ durableObjects: Record<string, { className: string; useSQLite: boolean }>; ratelimits: Record<string, { simple: { limit: number; period: 10 | 60 } }> }>}
 */
export async function deployedBindings() {
  process.env.WRANGLER_SEND_METRICS = 'false';
  const signals = /** @type {const} */ (['SIGINT', 'SIGTERM']);
  const before = signals.map((signal) => process.listeners(signal));
  const { unstable_readConfig } = await import('wrangler');
  // Importing wrangler installs its CLI's SIGINT and SIGTERM handlers, which exit at once with code 0: a
  // benchmark's Ctrl-C would end it before its own cleanup (stopAllOnSignals) stops its workerd processes.
  signals.forEach((signal, i) => {
    for (const listener of process.listeners(signal)) if (!before[i]?.includes(listener)) process.off(signal, listener);
  });
  /**
   * The part of wrangler's parsed configuration read here.
   * @type {{
   *   migrations: { new_sqlite_classes?: string[] }[];
   *   durable_objects: { bindings: { name: string; class_name: string; script_name?: string }[] };
   *   ratelimits: { name: string; simple: { limit: number; period: number } }[];
   * }}
   */
  const config = unstable_readConfig({ config: join(ROOT, 'wrangler.toml') });
  const sqlite = new Set(config.migrations.flatMap((m) => m.new_sqlite_classes ?? []));
  return {
    durableObjects: Object.fromEntries(
      config.durable_objects.bindings
        .filter((b) => b.script_name === undefined)
        .map((b) => [b.name, { className: b.class_name, useSQLite: sqlite.has(b.class_name) }]),
    ),
    ratelimits: Object.fromEntries(
      config.ratelimits.map((r) => [r.name, { simple: { limit: r.simple.limit, period: /** @type {10 | 60} */ (r.simple.period) } }]),
    ),
  };
}

// @ts-check
/**
 * Helpers for the local processes and servers the scripts, the benchmark and
 * the end-to-end tests start: free ports, a child in its own process group,
 * waiting until something answers, stopping the group, serving a Node server
 * on 127.0.0.1, and the cleanup that runs on Ctrl-C.
 *
 * Every child spawnGroup starts and every folder tempDir makes is recorded
 * until it is stopped or removed. A script that calls stopAllOnSignals()
 * stops all of them on SIGINT and SIGTERM (then exits 130 / 143), and on
 * any exit sends the groups still running SIGKILL and removes the folders:
 * children run in process groups of their own (so one signal ends all they
 * start), which also means a Ctrl-C in the terminal never reaches them, and
 * without this they would outlive the script, reparented to PID 1.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** @typedef {import('node:child_process').ChildProcess} ChildProcess */

/** @type {Set<() => Promise<void>>} stops of what runs now: children of spawnGroup, and what onStop added */
const running = new Set();
/** @type {Set<number>} process groups of spawnGroup's children not yet stopped (killed synchronously on exit) */
const groups = new Set();
/** @type {Set<string>} folders of tempDir not yet removed */
const tempDirs = new Set();

/**
 * A free TCP port on 127.0.0.1.
 * @returns {Promise<number>}
 */
export async function freePort() {
  return listenProbe(0);
}

/**
 * Whether `port` on 127.0.0.1 is taken (something listens there, or the port cannot be bound).
 * @param {number} port
 */
export async function portInUse(port) {
  return listenProbe(port).then(
    () => false,
    () => true,
  );
}

/**
 * Listens on 127.0.0.1:`port` and closes again; resolves to the port bound.
 * @param {number} port 0: any free one
 * @returns {Promise<number>}
 */
function listenProbe(port) {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

/**
 * Spawns `command` in its own process group (so stopProcessGroup ends every process it starts),
 * stdin closed, stdout and stderr collected.
 * @param {string} command
 * @param {string[]} args
 * @param {{ cwd: string; env: NodeJS.ProcessEnv; onOutput?: (text: string) => void }} options onOutput: each chunk, as it comes
 * @returns {{ child: ChildProcess; output: () => string }} output: all it wrote so far, stdout and stderr interleaved
 */
export function spawnGroup(command, args, { cwd, env, onOutput }) {
  const child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  const stop = () => stopProcessGroup(child);
  running.add(stop);
  child.once('exit', () => running.delete(stop));
  if (child.pid !== undefined) groups.add(child.pid);
  let output = '';
  /** @param {Buffer} chunk */
  const collect = (chunk) => {
    output += chunk;
    onOutput?.(String(chunk));
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  return { child, output: () => output };
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `url` every 250 ms until it answers 2xx, the deadline passes, or `isAlive` says the
 * process behind it is gone (checked before every poll).
 * @param {string} url
 * @param {{ timeoutMs: number; isAlive?: () => boolean }} options
 * @returns {Promise<'ready' | 'exited' | 'timeout'>}
 */
export async function waitForUrl(url, { timeoutMs, isAlive = () => true }) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive()) return 'exited';
    try {
      const response = await fetch(url);
      if (response.ok) return 'ready';
    } catch {
      // not up yet
    }
    await sleep(250);
  }
  return 'timeout';
}

/**
 * @param {number} pid a process group leader's pid (a child spawned with `detached: true`)
 * @param {NodeJS.Signals} signal
 */
function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Stops a child spawned with `detached: true` and every process it started (its process group):
 * SIGTERM, then SIGKILL if it has not exited after `graceMs`. Resolves once it exited or was killed.
 * @param {ChildProcess} child
 * @param {number} [graceMs]
 * @returns {Promise<void>}
 */
export async function stopProcessGroup(child, graceMs = 5000) {
  const pid = child.pid;
  if (pid === undefined) return;
  if (child.exitCode !== null || child.signalCode !== null) {
    // The leader is gone; what it started may not be (npx leaves a node process behind).
    signalGroup(pid, 'SIGKILL');
    groups.delete(pid);
    return;
  }
  signalGroup(pid, 'SIGTERM');
  await new Promise((resolve) => {
    const timer = setTimeout(() => {
      signalGroup(pid, 'SIGKILL');
      resolve(undefined);
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
  signalGroup(pid, 'SIGKILL'); // any member that ignored SIGTERM
  groups.delete(pid);
}

/**
 * Adds a stop to run on SIGINT/SIGTERM (stopAllOnSignals): a server, or anything else a script starts.
 * @param {() => Promise<void>} stop
 * @returns {() => void} forgets it again (call it once stopped)
 */
export function onStop(stop) {
  running.add(stop);
  return () => running.delete(stop);
}

/**
 * A new folder in the system's temp folder, removed by removeTempDir, on SIGINT/SIGTERM, or on exit.
 * @param {string} prefix
 */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** @param {string} dir a folder tempDir made */
export function removeTempDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Kills what is left and removes the temp folders; synchronous, as an exit handler must be. */
function cleanUpNow() {
  for (const pid of groups) signalGroup(pid, 'SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

let installed = false;

/**
 * For a script's main: on SIGINT or SIGTERM, stop everything recorded (children, onStop's, temp
 * folders), then exit 130 or 143; on any exit, kill what is still running and remove the temp folders.
 * @param {{ beforeStop?: () => void | Promise<void> }} [options] beforeStop: runs first (e.g. "Stopping…")
 */
export function stopAllOnSignals(options = {}) {
  if (installed) return;
  installed = true;
  process.on('exit', cleanUpNow);
  let stopping = false;
  /** @param {NodeJS.Signals} signal */
  const onSignal = async (signal) => {
    if (stopping) return;
    stopping = true;
    await Promise.resolve(options.beforeStop?.()).catch(() => undefined);
    await stopAll();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Runs every recorded stop (newest first), then removes the temp folders. */
export async function stopAll() {
  for (const stop of [...running].reverse()) {
    running.delete(stop);
    await stop().catch(() => undefined);
  }
  cleanUpNow();
}

/**
 * Starts `server` listening on 127.0.0.1 (`port` 0: a free one).
 * @param {import('node:http').Server} server
 * @param {number} [port]
 * @returns {Promise<{ url: string; close: () => Promise<void> }>} url: http://127.0.0.1:<port>; close ends open connections too
 */
export async function listenOnLoopback(server, port = 0) {
  await new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(undefined)));
  return {
    url: `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve(undefined));
      }),
  };
}

/**
 * Whether the module whose `import.meta.url` is given is the script Node was asked to run, also when its
 * path goes through a symlink or has characters a URL escapes (a plain `file://${argv[1]}` comparison
 * says no there, and the script silently does nothing).
 * @param {string} moduleUrl
 */
export function isMainModule(moduleUrl) {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return moduleUrl === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

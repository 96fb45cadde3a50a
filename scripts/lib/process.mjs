// @ts-check
/**
 * Helpers for the local processes and servers the scripts, the benchmark and
 * the end-to-end tests start: free ports, a child in its own process group,
 * waiting until something answers, stopping the group, serving a Node server
 * on 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { createServer } from 'node:net';
import { pathToFileURL } from 'node:url';

/** @typedef {import('node:child_process').ChildProcess} ChildProcess */

/**
 * A free TCP port on 127.0.0.1.
 * @returns {Promise<number>}
 */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
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
  if (child.exitCode !== null || pid === undefined) return;
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

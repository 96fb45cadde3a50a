/**
 * Starts the real Firebase Auth emulator (firebase-tools from npm) on
 * 127.0.0.1 with free ports and a `demo-` project, and stops it by its
 * process group (npx leaves a child node process behind otherwise).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * @param {string} projectId a `demo-` project id
 * @param {{ port?: number; timeoutMs?: number; root?: string; log?: (line: string) => void }} [options]
 * @returns {Promise<{ host: string; stop: () => Promise<void> }>} host is host:port, as FIREBASE_AUTH_EMULATOR_HOST takes it
 */
export async function startAuthEmulator(projectId, options = {}) {
  const [authPort, hubPort, loggingPort] = [options.port ?? (await freePort()), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'auth-emulator-'));
  writeFileSync(
    join(dir, 'firebase.json'),
    JSON.stringify({
      emulators: {
        auth: { host: '127.0.0.1', port: authPort },
        hub: { host: '127.0.0.1', port: hubPort },
        logging: { host: '127.0.0.1', port: loggingPort },
        ui: { enabled: false },
        singleProjectMode: true,
      },
    }),
  );
  const firebaseBin = join(options.root ?? process.cwd(), 'node_modules', '.bin', 'firebase');
  const child = spawn(firebaseBin, ['emulators:start', '--only', 'auth', '--project', projectId, '--config', join(dir, 'firebase.json')], {
    cwd: dir,
    detached: true, // its own process group, so stop() ends every process it started
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FIREBASE_CLI_DISABLE_UPDATE_CHECK: 'true', CI: 'true' },
  });
  let output = '';
  const collect = (chunk) => {
    output += chunk;
    options.log?.(String(chunk));
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  const host = `127.0.0.1:${authPort}`;
  const stop = async () => {
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            // already gone
          }
          resolve(undefined);
        }, 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Auth emulator exited with ${child.exitCode}:\n${output}`);
    try {
      const response = await fetch(`http://${host}/emulator/v1/projects/${projectId}/config`);
      if (response.ok) return { host, stop };
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await stop();
  throw new Error(`Auth emulator did not start within the timeout:\n${output}`);
}

// @ts-check
/**
 * Starts the real Firebase Auth emulator (firebase-tools from npm) on
 * 127.0.0.1 with free ports and a `demo-` project, and stops it by its
 * process group (npx leaves a child node process behind otherwise).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, removeTempDir, spawnGroup, stopProcessGroup, tempDir, waitForUrl } from './process.mjs';

/**
 * @param {string} projectId a `demo-` project id
 * @param {{ port?: number; timeoutMs?: number; root?: string; log?: (line: string) => void }} [options]
 * @returns {Promise<{ host: string; stop: () => Promise<void> }>} host is host:port, as FIREBASE_AUTH_EMULATOR_HOST takes it
 */
export async function startAuthEmulator(projectId, options = {}) {
  const [authPort, hubPort, loggingPort] = [options.port ?? (await freePort()), await freePort(), await freePort()];
  const dir = tempDir('auth-emulator-');
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
  // Its own process group, so stop() ends every process it started.
  const { child, output } = spawnGroup(
    firebaseBin,
    ['emulators:start', '--only', 'auth', '--project', projectId, '--config', join(dir, 'firebase.json')],
    {
      cwd: dir,
      env: { ...process.env, FIREBASE_CLI_DISABLE_UPDATE_CHECK: 'true', CI: 'true' },
      onOutput: options.log,
    },
  );

  const host = `127.0.0.1:${authPort}`;
  const stop = async () => {
    await stopProcessGroup(child);
    removeTempDir(dir);
  };

  const ready = await waitForUrl(`http://${host}/emulator/v1/projects/${projectId}/config`, {
    timeoutMs: options.timeoutMs ?? 90_000,
    isAlive: () => child.exitCode === null,
  });
  if (ready === 'ready') return { host, stop };
  if (ready === 'exited') {
    await stop();
    throw new Error(`Auth emulator exited with ${child.exitCode}:\n${output()}`);
  }
  await stop();
  throw new Error(`Auth emulator did not start within the timeout:\n${output()}`);
}

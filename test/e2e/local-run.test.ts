import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/process.mjs';
import { serveStreamStandIn } from '../../scripts/lib/stream-standin.mjs';
import { streamCheckLine } from '../../scripts/start.mjs';

// The local scripts as a new user meets them: a second `npm start` refuses in one line and leaves the
// first run alone; Ctrl-C during a standalone `npm run demo` or a benchmark leaves no process and no temp folder behind;
// `npm run web` prints a URL connected to the running npm start; with real Stream credentials, npm start
// checks the app once and says what to fix.

const root = resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'local-run-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

type Run = { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };
function node(args: string[], env: Record<string, string>, { timeoutMs = 60_000 } = {}) {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<Run>((resolve) =>
    child.on('close', (status, signal) => (clearTimeout(timer), resolve({ status, signal, stdout, stderr }))),
  );
  return { child, done, output: () => stdout + stderr };
}

async function until(condition: () => boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Something listening on 127.0.0.1 (the first run's Worker or emulator, as far as a second run can tell). */
async function occupy() {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('a second npm start', () => {
  it.each(['worker', 'emulator'] as const)(
    "refuses in one line when the %s port is busy, and leaves the first run's file alone",
    async (which) => {
      const busy = await occupy();
      const runFile = join(mkdtempSync(join(scratch, 'run-')), 'local-run.json');
      const firstRun = JSON.stringify({ pid: process.pid, workerUrl: `http://127.0.0.1:${busy.port}`, adminToken: 'first-run' });
      writeFileSync(runFile, firstRun);
      const ports =
        which === 'worker'
          ? { PORT: String(busy.port), AUTH_EMULATOR_PORT: String(await freePort()) }
          : { PORT: String(await freePort()), AUTH_EMULATOR_PORT: String(busy.port) };
      try {
        const { status, stdout, stderr } = await node(['scripts/start.mjs'], { ...ports, LOCAL_RUN_FILE: runFile }, { timeoutMs: 30_000 })
          .done;
        expect(status, stdout + stderr).toBe(1);
        expect(stdout).toBe('');
        const lines = stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toContain(
          `port ${busy.port} (${which === 'worker' ? 'the Worker' : 'the Firebase Auth emulator'}) is already in use`,
        );
        expect(lines[0]).toMatch(/PORT=\d+ AUTH_EMULATOR_PORT=\d+ npm start$/);
        expect(readFileSync(runFile, 'utf8')).toBe(firstRun);
      } finally {
        await busy.close();
      }
    },
  );

  it('names a port setting that is not a port', async () => {
    const { status, stderr } = await node(['scripts/start.mjs', '--emulator-port', 'nine'], { LOCAL_RUN_FILE: join(scratch, 'none.json') })
      .done;
    expect(status).toBe(2);
    expect(stderr.trim()).toBe('npm start: AUTH_EMULATOR_PORT (--emulator-port) must be a port number, not "nine"');
  });
});

/** Processes (other than `except`) whose environment holds `marker`: what a script started, however deep. */
function processesWith(marker: string, except: number): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    if (Number(pid) === except) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(marker))
        found.push(`${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ').slice(0, 120)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

it('Ctrl-C during a standalone npm run demo stops the emulator and workerd and removes its temp folders', async () => {
  const marker = `LOCAL_RUN_TEST_MARKER=${randomBytes(8).toString('hex')}`;
  const tmp = join(scratch, 'tmp');
  mkdirSync(tmp);
  const demo = node(
    ['scripts/demo.mjs', '--fresh'],
    { [marker.split('=')[0]!]: marker.split('=')[1]!, TMPDIR: tmp },
    { timeoutMs: 150_000 },
  );
  const pid = demo.child.pid!;
  // Interrupted while its stack runs: the emulator is up and `wrangler dev` has started workerd.
  const running = () => processesWith(marker, pid);
  await until(
    () => running().some((line) => / dev --config /.test(line)) && running().some((line) => line.includes('workerd')),
    120_000,
    `wrangler dev under the demo\n${demo.output()}`,
  );
  expect(running().some((line) => line.includes('emulators:start'))).toBe(true);
  expect(readdirSync(tmp).some((name) => name.startsWith('auth-emulator-'))).toBe(true);
  expect(readdirSync(tmp).some((name) => name.startsWith('demo-state-'))).toBe(true);
  demo.child.kill('SIGINT');
  const { status, signal } = await demo.done;
  expect({ status, signal }).toEqual({ status: 130, signal: null });
  await until(
    () => processesWith(marker, pid).length === 0,
    10_000,
    `the demo's processes to end: ${processesWith(marker, pid).join('\n')}`,
  );
  expect(readdirSync(tmp).filter((name) => /^(auth-emulator|demo-state|stream-token-client)-/.test(name))).toEqual([]);
});

it('Ctrl-C during a benchmark stops its workerd instances and removes its temp folders', async () => {
  const marker = `LOCAL_RUN_TEST_MARKER=${randomBytes(8).toString('hex')}`;
  const tmp = join(scratch, 'bench-tmp');
  mkdirSync(tmp);
  // cold-start.mjs starts a Miniflare instance (a workerd process) per case, a Google stand-in and temp folders.
  const bench = node(
    ['bench/cold-start.mjs', '--rounds', '50'],
    { [marker.split('=')[0]!]: marker.split('=')[1]!, TMPDIR: tmp },
    { timeoutMs: 150_000 },
  );
  const pid = bench.child.pid!;
  // Past its first round (instances started and stopped), while an instance of the next one runs.
  await until(
    () => bench.output().includes('round 1:') && processesWith(marker, pid).some((line) => line.includes('workerd')),
    120_000,
    `the benchmark's second round\n${bench.output()}`,
  );
  bench.child.kill('SIGINT');
  const { status, signal } = await bench.done;
  expect({ status, signal }).toEqual({ status: 130, signal: null });
  await until(
    () => processesWith(marker, pid).length === 0,
    10_000,
    `the benchmark's processes to end: ${processesWith(marker, pid).join('\n')}`,
  );
  // update-check is wrangler's own (the bundle build), left by any run, interrupted or not.
  expect(readdirSync(tmp).filter((name) => name !== 'update-check')).toEqual([]);
});

it('npm run web prints a URL connected to the running npm start', async () => {
  const runFile = join(mkdtempSync(join(scratch, 'web-')), 'local-run.json');
  const stream = { baseUrl: 'http://127.0.0.1:4321', apiKey: 'localdevkey', secret: 'x' };
  writeFileSync(
    runFile,
    JSON.stringify({
      pid: process.pid,
      workerUrl: 'http://127.0.0.1:8899',
      emulatorHost: '127.0.0.1:9199',
      projectId: 'demo-p',
      realStream: false,
      adminToken: 't',
      streamApiKey: 'localdevkey',
      stream,
    }),
  );
  const port = await freePort();
  const web = node(['scripts/web.mjs'], { LOCAL_RUN_FILE: runFile, WEB_PORT: String(port) });
  try {
    await until(() => web.output().includes('Against a deployed Worker'), 60_000, `npm run web's URL\n${web.output()}`);
    const url = new URL(/http:\/\/127\.0\.0\.1:\d+\/\?\S+/.exec(web.output())![0]);
    expect(url.port).toBe(String(port));
    expect(Object.fromEntries(url.searchParams)).toEqual({
      worker: 'http://127.0.0.1:8899',
      authEmulator: 'http://127.0.0.1:9199',
      projectId: 'demo-p',
      streamKey: 'localdevkey',
      stream: 'http://127.0.0.1:4321',
    });
    const page = await fetch(url);
    expect(page.status).toBe(200);
  } finally {
    web.child.kill('SIGTERM');
    await web.done;
  }
});

describe('npm start with real Stream credentials checks the app once (GET /app)', () => {
  const secret = 'the-apps-secret';
  const stack = { workerUrl: 'http://127.0.0.1:1', emulatorHost: '127.0.0.1:1', stream: null };
  it("✓ when the key and secret are one app's; ✗ naming the setting to fix otherwise", async () => {
    const app = await serveStreamStandIn({ apiKey: 'real-key', secret });
    try {
      expect(await streamCheckLine({ ...stack, streamAccess: { baseUrl: app.url, apiKey: 'real-key', secret } })).toBe(
        '  ✓ your Stream app "stand-in" accepts STREAM_API_KEY real-key and STREAM_API_SECRET from .dev.vars (GET /app)',
      );
      const wrongSecret = await streamCheckLine({ ...stack, streamAccess: { baseUrl: app.url, apiKey: 'real-key', secret: 'another' } });
      expect(wrongSecret).toMatch(/^ {2}✗ your Stream app: Stream refused the secret for key real-key \(HTTP 401.*copy STREAM_API_SECRET/);
      expect(wrongSecret).not.toContain('another');
      const wrongKey = await streamCheckLine({ ...stack, streamAccess: { baseUrl: app.url, apiKey: 'other-key', secret } });
      expect(wrongKey).toMatch(/^ {2}✗ .*does not know the API key other-key: copy STREAM_API_KEY/);
      expect(app.standIn.requests.filter((r) => r.path === '/app')).toHaveLength(3);
    } finally {
      await app.close();
    }
    const unreachable = await streamCheckLine({ ...stack, streamAccess: { baseUrl: 'http://127.0.0.1:9', apiKey: 'real-key', secret } });
    expect(unreachable).toMatch(/^ {2}✗ your Stream app: could not reach http:\/\/127\.0\.0\.1:9 .*STREAM_BASE_URL/);
  });
});

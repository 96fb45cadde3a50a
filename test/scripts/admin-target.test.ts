import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listenOnLoopback } from '../../scripts/lib/process.mjs';

// The operator scripts (doctor, status) take the Worker's URL and the admin token from one source:
// a named Worker with ADMIN_TOKEN from the environment, or the running npm start with its own token;
// never the token from the command line, never plain http to a non-loopback host. And each answer the
// Worker can give is one line saying what to do.

const root = resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'admin-target-test-'));
const runFile = join(scratch, 'local-run.json');

/** A Worker stand-in: answers the admin routes as `answer` says, records what it was sent. */
const seen: { path: string; authorization: string | undefined }[] = [];
let answer: { status: number; body: unknown } = { status: 200, body: {} };
let worker: { url: string; close: () => Promise<void> };
beforeAll(async () => {
  worker = await listenOnLoopback(
    createServer((req, res) => {
      seen.push({ path: req.url!, authorization: req.headers.authorization });
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    }),
  );
});
afterAll(async () => {
  await worker?.close();
  rmSync(scratch, { recursive: true, force: true });
});
beforeEach(() => {
  seen.length = 0;
  rmSync(runFile, { force: true });
  answer = { status: 200, body: { registry: { active: 3, pending_delete: 0, deleted: 1 }, sweep: {}, last_run: null } };
});

function script(name: 'doctor' | 'status', args: string[], env: Record<string, string> = {}) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
    const base: NodeJS.ProcessEnv = { ...process.env, LOCAL_RUN_FILE: runFile };
    delete base.ADMIN_TOKEN;
    delete base.DOCTOR_URL;
    // stdin not a terminal: nothing can be typed, so a missing token must be an error, not a hang.
    const child = spawn(process.execPath, [`scripts/${name}.mjs`, ...args], {
      cwd: root,
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

/** A run file as a live npm start writes it (this test's pid: alive). */
function localRun(pid = process.pid) {
  writeFileSync(
    runFile,
    JSON.stringify({
      pid,
      workerUrl: worker.url,
      emulatorHost: '127.0.0.1:1',
      projectId: 'demo-x',
      realStream: false,
      adminToken: 'local-run-token',
      streamApiKey: 'k',
      stream: null,
    }),
  );
}

describe('where the URL and token come from', () => {
  it('a named Worker: the token from ADMIN_TOKEN', async () => {
    const { status, stdout } = await script('status', ['--url', worker.url], { ADMIN_TOKEN: 'env-token' });
    expect(status).toBe(0);
    expect(stdout).toContain(`reconciliation: ${worker.url}`);
    expect(seen).toEqual([{ path: '/v1/admin/reconcile/status', authorization: 'Bearer env-token' }]);
  });

  it('DOCTOR_URL names the Worker as --url does', async () => {
    const { status } = await script('status', [], { DOCTOR_URL: worker.url, ADMIN_TOKEN: 'env-token' });
    expect(status).toBe(0);
    expect(seen[0]?.authorization).toBe('Bearer env-token');
  });

  it("a named Worker never gets the local run's token", async () => {
    localRun();
    const { status, stderr } = await script('status', ['--url', worker.url]);
    expect(status).toBe(2);
    expect(stderr).toMatch(/set ADMIN_TOKEN in the environment/);
    expect(seen).toEqual([]);
  });

  it('nothing named: the running npm start, with its own token', async () => {
    localRun();
    const { status } = await script('status', []);
    expect(status).toBe(0);
    expect(seen).toEqual([{ path: '/v1/admin/reconcile/status', authorization: 'Bearer local-run-token' }]);
  });

  it("ADMIN_TOKEN from the environment is never sent to the local run's URL", async () => {
    localRun();
    const { status, stderr } = await script('status', [], { ADMIN_TOKEN: 'production-token' });
    expect(status).toBe(2);
    expect(stderr).toContain('ADMIN_TOKEN is set but no Worker is named');
    expect(seen).toEqual([]);
  });

  it('a run file left by a run that is gone is not used', async () => {
    localRun(2 ** 22 + 12345); // above Linux's pid_max: no such process
    const { status, stderr } = await script('doctor', []);
    expect(status).toBe(2);
    expect(stderr).toMatch(/^Usage: npm run doctor -- --url https:\/\/<worker>/);
    expect(seen).toEqual([]);
  });

  it('--admin-token on the command line is refused, and nothing is sent', async () => {
    const { status, stderr } = await script('doctor', ['--url', worker.url, '--admin-token', 'secret-on-the-command-line'], {
      ADMIN_TOKEN: 'env-token',
    });
    expect(status).toBe(2);
    expect(stderr).toContain('--admin-token is not accepted');
    expect(stderr).not.toContain('secret-on-the-command-line');
    expect(seen).toEqual([]);
  });

  it.each(['http://worker.example.com', 'http://10.0.0.5:8787', 'ftp://127.0.0.1'])('refuses %s (https unless loopback)', async (url) => {
    const { status, stderr } = await script('doctor', ['--url', url], { ADMIN_TOKEN: 'env-token' });
    expect(status).toBe(2);
    expect(stderr).toContain('must be https://');
  });

  it('accepts plain http on loopback by name', async () => {
    const { status } = await script('status', ['--url', worker.url.replace('127.0.0.1', 'localhost')], { ADMIN_TOKEN: 'env-token' });
    expect(status).toBe(0);
  });
});

describe('what each answer says', () => {
  it("404 (no ADMIN_TOKEN secret on the Worker): status gives the doctor's hint, not raw JSON", async () => {
    answer = { status: 404, body: { type: 'about:blank', title: 'Not found', status: 404 } };
    for (const name of ['status', 'doctor'] as const) {
      const { status, stdout, stderr } = await script(name, ['--url', worker.url], { ADMIN_TOKEN: 'env-token' });
      expect(status).toBe(1);
      expect(stdout).toBe('');
      expect(stderr.trim()).toBe(
        `${worker.url} has no admin routes: set the ADMIN_TOKEN secret (npx wrangler secret put ADMIN_TOKEN) and deploy`,
      );
    }
  });

  it("401: the token is not the Worker's", async () => {
    answer = { status: 401, body: { code: 'invalid_token' } };
    const { status, stderr } = await script('status', ['--url', worker.url], { ADMIN_TOKEN: 'wrong' });
    expect(status).toBe(1);
    expect(stderr.trim()).toBe(`${worker.url} refused the admin token (HTTP 401): ADMIN_TOKEN must be the Worker's ADMIN_TOKEN secret`);
  });

  it('an unreachable Worker: one line', async () => {
    const { status, stderr } = await script('status', ['--url', 'http://127.0.0.1:9'], { ADMIN_TOKEN: 'env-token' });
    expect(status).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('could not reach http://127.0.0.1:9');
  });
});

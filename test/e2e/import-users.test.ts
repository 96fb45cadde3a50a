import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { serveStreamStandIn } from '../../scripts/lib/stream-standin.mjs';

const ADMIN_TOKEN = 'x'.repeat(40);
const imported: string[][] = [];
let worker: ReturnType<typeof createServer>;
let workerUrl: string;
let stream: Awaited<ReturnType<typeof serveStreamStandIn>>;
const dir = mkdtempSync(join(tmpdir(), 'import-users-'));

beforeAll(async () => {
  // A stand-in for the Worker's import route that records what arrives.
  worker = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (req.url !== '/v1/admin/registry/import' || req.headers.authorization !== `Bearer ${ADMIN_TOKEN}`) return res.writeHead(401).end();
      const { uids } = JSON.parse(body) as { uids: string[] };
      imported.push(uids);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ received: uids.length, added: uids.length }));
    });
  });
  await new Promise<void>((resolve) => worker.listen(0, '127.0.0.1', resolve));
  workerUrl = `http://127.0.0.1:${(worker.address() as { port: number }).port}`;
  stream = await serveStreamStandIn({ apiKey: 'importkey', secret: 'import-secret' });
});

afterAll(async () => {
  worker.close();
  await stream.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the script without blocking this process, whose event loop serves the stand-ins it talks to. */
const run = (args: string[], env: Record<string, string>) =>
  new Promise<{ status: number | null; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['scripts/import-users.mjs', '--worker', workerUrl, ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (error, _stdout, stderr) => {
        resolve({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr });
      },
    );
  });

it('imports a uid file, skipping comments, blanks and ids Stream cannot use', async () => {
  imported.length = 0;
  const file = join(dir, 'uids.txt');
  writeFileSync(file, '# exported uids\nuid-1\n\nuid-2\nnot valid!\nuid-3\n');
  const result = await run(['--uids', file], { ADMIN_TOKEN });
  expect(result.status, result.stderr).toBe(0);
  expect(imported.flat()).toEqual(['uid-1', 'uid-2', 'uid-3']);
});

it('imports every Stream user with role "user", paging by created_at without skipping users created in the same instant', async () => {
  imported.length = 0;
  const sameInstant = '2025-01-01T00:00:00.000Z';
  const users = [
    ...Array.from({ length: 150 }, (_, i) => ({
      id: `same-${i}`,
      role: 'user',
      created_at: i < 120 ? sameInstant : `2025-01-02T00:00:${String(i - 100).padStart(2, '0')}.000Z`,
    })),
    ...Array.from({ length: 130 }, (_, i) => ({
      id: `later-${i}`,
      role: 'user',
      created_at: `2025-02-01T00:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.000Z`,
    })),
    { id: 'admin-1', role: 'admin', created_at: '2025-01-03T00:00:00.000Z' },
    { id: 'bot-1', role: 'bot', created_at: '2025-01-03T00:00:00.000Z' },
  ];
  for (const user of users) stream.standIn.users.set(user.id, user);
  const result = await run(['--from-stream', '--stream-base-url', stream.url], {
    ADMIN_TOKEN,
    STREAM_API_KEY: 'importkey',
    STREAM_API_SECRET: 'import-secret',
  });
  expect(result.status, result.stderr).toBe(0);
  const all = imported.flat();
  expect(new Set(all).size).toBe(all.length);
  expect(all.sort()).toEqual(
    users
      .filter((u) => u.role === 'user')
      .map((u) => u.id)
      .sort(),
  );
});

it('refuses to run without ADMIN_TOKEN', async () => {
  const result = await run(['--uids', '/dev/null'], { ADMIN_TOKEN: '' });
  expect(result.status).toBe(2);
  expect(result.stderr).toContain('ADMIN_TOKEN');
});

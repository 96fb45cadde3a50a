// The model of a distant D1 that bench/d1-distance.mjs puts in front of the real Worker
// (bench/lib/distant-d1-worker.js): where each statement goes, what counts as critical path or background,
// the outage switch and replica lag. Checked with a small Worker in its place whose D1 calls are known.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startMiniflare } from '../../bench/lib/harness.mjs';

// Stands in for the real bundle (worker.js): one route per pattern of D1 use.
const FAKE_WORKER = `
export class Unused {}
export default {
  async fetch(request, env, ctx) {
    const db = env.DB;
    const path = new URL(request.url).pathname;
    const key = new URL(request.url).searchParams.get('k') ?? 'k';
    if (path === '/primary') {
      const row = await db.prepare('SELECT count(*) AS n FROM t').first();
      await db.prepare('INSERT INTO t (k, at) VALUES (?1, 1)').bind(key).run();
      ctx.waitUntil(db.prepare('UPDATE t SET at = 2 WHERE k = ?1').bind(key).run());
      return Response.json({ n: row.n });
    }
    if (path === '/session') {
      const session = db.withSession('first-unconstrained');
      const before = await session.prepare('SELECT k FROM t WHERE k = ?1').bind(key).first();
      await session.prepare('  -- a comment\\n WITH x AS (SELECT 1) INSERT INTO t (k, at) SELECT ?1, 3 FROM x').bind(key).run();
      const after = await session.prepare('SELECT k FROM t WHERE k = ?1').bind(key).all();
      return Response.json({ before, after: after.results.length, bookmark: typeof session.getBookmark() });
    }
    if (path === '/read') {
      const session = db.withSession('first-unconstrained');
      const [one, two] = await session.batch([session.prepare('SELECT k FROM t WHERE k = ?1').bind(key), session.prepare('SELECT 2 AS two')]);
      return Response.json({ found: one.results.length, two: two.results[0].two });
    }
    if (path === '/first-primary') {
      const session = db.withSession('first-primary');
      await session.prepare('SELECT 1').first();
      await session.prepare('SELECT 2').first();
      return Response.json({});
    }
    if (path === '/batch') {
      await db.batch([db.prepare('INSERT INTO t (k, at) VALUES (?1, 4)').bind(key + 'a'), db.prepare('INSERT INTO t (k, at) VALUES (?1, 4)').bind(key + 'b')]);
      return Response.json({});
    }
    try {
      await db.withSession().prepare('SELECT 1').first();
      return Response.json({ error: null });
    } catch (error) {
      return Response.json({ error: String(error.message) });
    }
  },
};
`;

let mf: Miniflare;
let url: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'distant-d1-'));
  writeFileSync(join(dir, 'worker.js'), FAKE_WORKER);
  copyFileSync(join(ROOT, 'bench', 'lib', 'distant-d1-worker.js'), join(dir, 'entry.js'));
  ({ mf, url } = await startMiniflare({
    scriptPath: join(dir, 'entry.js'),
    compatibilityFlags: ['nodejs_als'],
    modulesRules: [{ type: 'ESModule', include: ['**/*.js'] }],
    bindings: { BENCH_SETTINGS: JSON.stringify({ primaryMs: 20, replicaMs: 1, lagMs: 60_000 }) },
    d1Databases: { BENCH_D1: 'distant-d1-test' },
  }));
  const db = await mf.getD1Database('BENCH_D1');
  await db.prepare('CREATE TABLE t (k TEXT PRIMARY KEY, at INTEGER)').run();
});

afterAll(async () => {
  await mf?.dispose();
});

interface Counts {
  requests: number;
  primary: { critical: number; background: number };
  primaryTrips: { critical: number; background: number };
  replica: { critical: number; background: number };
  failed: number;
  staleReads: number;
}

/** The wrapper's counts once nothing runs in the background any more. */
async function countsAfter(path: string): Promise<{ body: Record<string, unknown>; counts: Counts; workerMs: number }> {
  await fetch(`${url}/__bench/reset`, { method: 'POST', body: '{}' });
  const response = await fetch(`${url}${path}`);
  const body = (await response.json()) as Record<string, unknown>;
  for (;;) {
    const stats = (await (await fetch(`${url}/__bench/stats`)).json()) as { pending: number; counts: Counts };
    if (stats.pending === 0) return { body, counts: stats.counts, workerMs: Number(response.headers.get('x-bench-worker-ms')) };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('bench/lib/distant-d1-worker.js', () => {
  it('sends the database’s statements to the primary, and counts what the answer waited for apart from ctx.waitUntil work', async () => {
    const { counts, workerMs } = await countsAfter('/primary?k=p1');
    expect(counts.requests).toBe(1);
    expect(counts.primary).toEqual({ critical: 2, background: 1 });
    expect(counts.replica).toEqual({ critical: 0, background: 0 });
    expect(workerMs).toBeGreaterThanOrEqual(40); // two primary round trips of 20 ms
  });

  it('reads in a session from a replica until the session writes; the write and what follows go to the primary', async () => {
    const { body, counts } = await countsAfter('/session?k=s1');
    expect(body).toEqual({ before: null, after: 1, bookmark: 'string' });
    expect(counts.replica.critical).toBe(1);
    expect(counts.primary.critical).toBe(2);
  });

  it('counts a batch as its statements in one round trip, at a replica when it only reads', async () => {
    const batch = await countsAfter('/batch?k=b');
    expect(batch.counts.primary.critical).toBe(2);
    expect(batch.counts.primaryTrips.critical).toBe(1);
    const read = await countsAfter('/read?k=nobody');
    expect(read.body).toEqual({ found: 0, two: 2 });
    expect(read.counts.replica.critical).toBe(2);
    expect(read.counts.primary.critical).toBe(0);
  });

  it('keeps a first-primary session on the primary', async () => {
    const { counts } = await countsAfter('/first-primary');
    expect(counts.primary.critical).toBe(2);
    expect(counts.replica.critical).toBe(0);
  });

  it('lets a lagging replica miss a row the primary wrote, never the primary', async () => {
    await countsAfter('/batch?k=lag'); // writes laga and lagb on the primary
    const { body, counts } = await countsAfter('/read?k=laga');
    expect(body).toEqual({ found: 0, two: 2 });
    expect(counts.staleReads).toBe(1);
  });

  it('fails every statement as D1 does while the outage switch is on, and only then', async () => {
    await fetch(`${url}/__bench/outage`, { method: 'POST', body: JSON.stringify({ down: true }) });
    const down = await countsAfter('/outage');
    expect(down.body.error).toMatch(/^D1_ERROR: /);
    expect(down.counts.failed).toBe(1);
    await fetch(`${url}/__bench/outage`, { method: 'POST', body: JSON.stringify({ down: false }) });
    expect((await countsAfter('/outage')).body.error).toBeNull();
  });
});

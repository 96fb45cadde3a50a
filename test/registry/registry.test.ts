import { beforeEach, describe, expect, it } from 'vitest';
import { UserRegistry } from '../../src/registry/registry';
import { captureConsole } from '../support/console';
import { brokenDb, clearRegistry, DB, register, registerAlive, registryRows } from '../support/reconcile';

beforeEach(clearRegistry);

describe('UserRegistry: recording (the token routes)', () => {
  it("readNear answers a uid's entry through a session, or none, and whether any row is bound to a tenant", async () => {
    const registry = new UserRegistry(DB, () => 5_000);
    expect(await registry.readNear('ada')).toEqual({ entry: undefined, tenantRows: false });
    await registry.register('ada', '');
    expect(await registry.readNear('ada')).toEqual({
      entry: { tenant: '', state: 'active', aliveAt: 5_000, written: undefined },
      tenantRows: false,
    });
    await register(['bob'], 'tenant-b');
    expect((await registry.readNear('ada')).tenantRows).toBe(true);
    expect((await registry.readNear('nobody')).tenantRows).toBe(true);
  });

  it('readNear goes through the Sessions API (first-unconstrained: any replica may answer)', async () => {
    const constraints: unknown[] = [];
    const spy = {
      ...DB,
      prepare: () => {
        throw new Error('the near read must not go to the primary');
      },
      withSession: (constraint: unknown) => (constraints.push(constraint), DB.withSession(constraint as D1SessionConstraint)),
    } as unknown as D1Database;
    await new UserRegistry(spy).readNear('ada');
    expect(constraints).toEqual(['first-unconstrained']);
  });

  it('register answers the stored entry in one statement: the first tenant stays, a deletion is not revived', async () => {
    const registry = new UserRegistry(DB, () => 7_000);
    expect(await registry.register('ada', 'tenant-a')).toEqual({ tenant: 'tenant-a', state: 'active', aliveAt: 7_000, written: undefined });
    expect(await registry.register('ada', 'tenant-b')).toMatchObject({ tenant: 'tenant-a', state: 'active' });
    await registry.markMissing(['ada']);
    await registry.markDeleted(['ada'], 'cron:soft');
    expect(await registry.register('ada', 'tenant-a')).toMatchObject({ tenant: 'tenant-a', state: 'deleted' });
  });

  it('register throws when storage fails', async () => {
    await expect(new UserRegistry(brokenDb).register('ada', '')).rejects.toThrow(/storage unavailable/);
  });

  it('recordSeen records many uids in one statement: new ones at their own time, newer evidence for active ones, never another tenant or a deletion', async () => {
    const registry = new UserRegistry(DB);
    await register(['old'], '');
    await register(['other'], 'tenant-x');
    await register(['gone'], '');
    await registry.markMissing(['gone']);
    let statements = 0;
    const counted = { ...DB, prepare: (sql: string) => (statements++, DB.prepare(sql)) } as unknown as D1Database;
    await new UserRegistry(counted).recordSeen([
      { uid: 'new', tenant: '', at: 1_000 },
      { uid: 'old', tenant: '', at: 2_000 },
      { uid: 'other', tenant: '', at: 3_000 },
      { uid: 'gone', tenant: '', at: 4_000 },
    ]);
    expect(statements).toBe(1);
    const rows = await registryRows();
    expect(rows.get('new')).toMatchObject({ tenant: '', state: 'active', alive_at: 1_000 });
    expect(rows.get('old')?.alive_at).toBe(2_000);
    expect(rows.get('other')).toMatchObject({ tenant: 'tenant-x', alive_at: null });
    expect(rows.get('gone')).toMatchObject({ state: 'pending_delete', alive_at: null });
    // Older evidence never replaces newer.
    await registry.recordSeen([{ uid: 'old', tenant: '', at: 1_500 }]);
    expect((await registryRows()).get('old')?.alive_at).toBe(2_000);
  });

  it('importUids adds new uids under a tenant and answers how many were new', async () => {
    const registry = new UserRegistry(DB);
    expect(await registry.importUids(['a', 'b'])).toBe(2);
    expect(await registry.importUids(['b', 'c'], 'tenant-x')).toBe(1);
    const rows = await registryRows();
    expect([...rows.keys()].sort()).toEqual(['a', 'b', 'c']);
    expect(rows.get('c')?.tenant).toBe('tenant-x');
    expect(rows.get('b')?.tenant).toBe('');
  });
});

describe('UserRegistry: choosing work', () => {
  it('page walks active uids after a cursor, in uid order', async () => {
    const registry = new UserRegistry(DB);
    await register(['c', 'a', 'e', 'b', 'd']);
    await registry.markMissing(['c']);
    expect(await registry.page('', 2)).toEqual([
      { uid: 'a', tenant: '' },
      { uid: 'b', tenant: '' },
    ]);
    expect((await registry.page('b', 10)).map((row) => row.uid)).toEqual(['d', 'e']);
    expect(await registry.page('e', 10)).toEqual([]);
  });

  it('claims due deletions soonest first, each only once, and leaves the not-yet-due ones', async () => {
    let now = 1_000;
    const registry = new UserRegistry(DB, () => now);
    await register(['p1', 'p2', 'p3']);
    await registry.markMissing(['p1']);
    now = 2_000;
    await registry.markMissing(['p2', 'p3']);
    await registry.markDeleteFailed(['p3'], 'boom', { baseMs: 60_000, maxMs: 3_600_000 }); // due at 62,000
    const first = await registry.claimDueDeletions(1, 'claim:a');
    expect(first.map((row) => row.uid)).toEqual(['p1']);
    const second = await registry.claimDueDeletions(10, 'claim:b');
    expect(second.map((row) => row.uid)).toEqual(['p2']);
    expect(await registry.countDue(10)).toBe(0);
    now = 62_000;
    expect(await registry.countDue(10)).toBe(1);
    expect((await registry.claimDueDeletions(10, 'claim:c')).map((row) => row.uid)).toEqual(['p3']);
  });

  it('backoff doubles with each failure and is capped', async () => {
    const registry = new UserRegistry(DB, () => 0);
    await register(['x']);
    await registry.markMissing(['x']);
    const backoff = { baseMs: 1_000, maxMs: 5_000 };
    const next: (number | null)[] = [];
    for (let i = 0; i < 4; i++) {
      await registry.markDeleteFailed(['x'], 'boom', backoff);
      next.push((await registryRows()).get('x')!.next_attempt_at);
    }
    expect(next).toEqual([1_000, 2_000, 4_000, 5_000]);
    expect((await registryRows()).get('x')).toMatchObject({ failures: 4, last_error: 'boom', state: 'pending_delete' });
  });

  it("markInTask turns a claim into Stream's task id; openTasks groups uids by task", async () => {
    const registry = new UserRegistry(DB, () => 0);
    await register(['a', 'b', 'c']);
    await registry.markMissing(['a', 'b', 'c']);
    await registry.claimDueDeletions(2, 'claim:1');
    await registry.markInTask('claim:1', 'task-9');
    expect(await registry.openTasks(10)).toEqual(new Map([['task-9', ['a', 'b']]]));
    await registry.markDeleted(['a', 'b'], 'cron:soft');
    expect(await registry.openTasks(10)).toEqual(new Map());
  });

  it('witnesses: active uids of the tenant most recently known alive', async () => {
    const registry = new UserRegistry(DB);
    await registerAlive(['old'], '', 60_000);
    await registerAlive(['new'], '', 1_000);
    await registerAlive(['other-tenant'], 't1', 0);
    await register(['never-seen']);
    expect(await registry.witnesses('', 10)).toEqual(['new', 'old']);
    expect(await registry.witnesses('t1', 10)).toEqual(['other-tenant']);
    await registry.markMissing(['new']);
    expect(await registry.witnesses('', 10)).toEqual(['old']);
  });

  it('rechecks: active uids flagged by the self-service path, cleared once checked', async () => {
    const registry = new UserRegistry(DB);
    await register(['a', 'b']);
    await registry.markRecheck('b');
    expect(await registry.rechecks(10)).toEqual([{ uid: 'b', tenant: '' }]);
    await registry.markPresent(['b']);
    expect(await registry.rechecks(10)).toEqual([]);
  });

  it('a deleted uid is never marked present or missing again', async () => {
    const registry = new UserRegistry(DB);
    await register(['gone']);
    await registry.markMissing(['gone']);
    await registry.markDeleted(['gone'], 'admin:soft');
    await registry.markPresent(['gone']);
    await registry.markMissing(['gone']);
    expect((await registryRows()).get('gone')).toMatchObject({ state: 'deleted', deleted_how: 'admin:soft' });
  });
});

describe('UserRegistry: sweep state and counts', () => {
  it('keeps the sweep position and the last run across instances', async () => {
    const registry = new UserRegistry(DB);
    expect(await registry.sweepState()).toMatchObject({ cursor: '', sweepStartedAt: null, sweepsCompleted: 0, lastRun: null });
    const state = {
      cursor: 'u-5',
      sweepStartedAt: 10,
      sweepTotal: 9,
      sweepDone: 5,
      sweepsCompleted: 2,
      lastSweepCompletedAt: 5,
      lastSweepDurationMs: 4,
      lastRun: { checked: 5 },
    };
    await registry.saveSweepState(state);
    expect(await new UserRegistry(DB).sweepState()).toEqual(state);
  });

  it('counts by state and lists the oldest pending deletions', async () => {
    const registry = new UserRegistry(DB);
    await register(['a', 'b', 'c', 'd']);
    await registry.markMissing(['b', 'c']);
    await registry.markDeleteFailed(['c'], 'Stream said 403', { baseMs: 1, maxMs: 1 });
    await registry.markDeleted(['d'], 'cron:soft');
    expect(await registry.countsByState()).toEqual({ active: 1, pending_delete: 2, deleted: 1 });
    expect(await registry.countActive()).toBe(1);
    const pending = await registry.oldestPending(10);
    expect(pending.map((row) => row.uid).sort()).toEqual(['b', 'c']);
    expect(pending.find((row) => row.uid === 'c')).toMatchObject({ failures: 1, last_error: 'Stream said 403' });
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import { UserRegistry } from '../../src/registry/registry';
import { captureConsole } from '../support/console';
import { brokenDb, clearRegistry, DB, register, registerAlive, registryRows } from '../support/reconcile';

beforeEach(clearRegistry);

/** Collects what the registry hands to waitUntil, so the test can await it like the runtime would. */
function background() {
  const pending: Promise<unknown>[] = [];
  return { waitUntil: (promise: Promise<unknown>) => void pending.push(promise), settle: () => Promise.all(pending), pending };
}

/** A D1 stand-in whose every statement fails, as when storage is unavailable. */

describe('UserRegistry: recording', () => {
  it('markAlive records a uid and its tenant in the background, once per isolate', async () => {
    const registry = new UserRegistry(DB, () => 5_000);
    const bg = background();
    registry.markAlive('ada', 'tenant-a', bg.waitUntil);
    registry.markAlive('ada', 'tenant-a', bg.waitUntil);
    expect(bg.pending).toHaveLength(1);
    await bg.settle();
    expect((await registryRows()).get('ada')).toMatchObject({ state: 'active', tenant: 'tenant-a', last_checked_at: null, alive_at: 5_000 });
  });

  it('markAlive refreshes a uid\'s evidence of life at most hourly, so busy users do not cost a D1 write per isolate', async () => {
    let now = 10_000_000;
    const bg = background();
    new UserRegistry(DB, () => now).markAlive('ada', '', bg.waitUntil);
    await bg.settle();
    now += 30 * 60_000;
    new UserRegistry(DB, () => now).markAlive('ada', '', bg.waitUntil); // another isolate, half an hour later
    await bg.settle();
    expect((await registryRows()).get('ada')?.alive_at).toBe(10_000_000);
    now += 31 * 60_000;
    new UserRegistry(DB, () => now).markAlive('ada', '', bg.waitUntil);
    await bg.settle();
    expect((await registryRows()).get('ada')?.alive_at).toBe(now);
  });

  it('markAlive never throws when storage fails, logs it, and tries again on the next request', async () => {
    const registry = new UserRegistry(brokenDb);
    const bg = background();
    const log = captureConsole();
    try {
      registry.markAlive('ada', '', bg.waitUntil);
      await bg.settle();
      registry.markAlive('ada', '', bg.waitUntil);
      await bg.settle();
    } finally {
      log.restore();
    }
    expect(bg.pending).toHaveLength(2);
    expect(log.lines.filter((line) => line.includes('registry_write_failed'))).toHaveLength(2);
  });

  it('recordNow answers the stored entry: the first tenant stays, a deletion is not revived', async () => {
    const registry = new UserRegistry(DB);
    expect(await registry.recordNow('ada', 'tenant-a')).toEqual({ uid: 'ada', tenant: 'tenant-a', state: 'active' });
    expect(await registry.recordNow('ada', 'tenant-b')).toEqual({ uid: 'ada', tenant: 'tenant-a', state: 'active' });
    await registry.markMissing(['ada']);
    await registry.markDeleted(['ada'], 'cron:soft');
    expect(await registry.recordNow('ada', 'tenant-a')).toEqual({ uid: 'ada', tenant: 'tenant-a', state: 'deleted' });
  });

  it('recordNow writes a returning user at most hourly, and still answers its entry', async () => {
    let now = 50_000_000;
    await new UserRegistry(DB, () => now).recordNow('bob', '');
    now += 10 * 60_000;
    const again = await new UserRegistry(DB, () => now).recordNow('bob', '');
    expect(again).toMatchObject({ uid: 'bob', tenant: '', state: 'active' });
    expect((await registryRows()).get('bob')?.alive_at).toBe(50_000_000);
  });

  it('recordNow throws when storage fails (the create route then creates nothing)', async () => {
    await expect(new UserRegistry(brokenDb).recordNow('ada', '')).rejects.toThrow(/storage unavailable/);
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

  it('markInTask turns a claim into Stream\'s task id; openTasks groups uids by task', async () => {
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

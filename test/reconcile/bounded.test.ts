/**
 * The properties that matter most, under a mix of faults: a user deleted
 * from Firebase is deleted from Stream within a bounded number of runs,
 * whatever Stream refuses, whatever the budget and the deletion rate; a
 * user who exists is never deleted; a failure of storage mid-run loses nothing.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Scenario } from '../support/fixtures';
import { clearRegistry, DB, productionEnv, registerAlive, registryRows, runCron, streamDeletes } from '../support/reconcile';

beforeEach(clearRegistry);

/** Cron runs are 15 minutes apart: backoffs shorter than that have passed by the next run, and claims left by a failed run are stale. */
async function fifteenMinutesPass(): Promise<void> {
  await DB.batch([
    DB.prepare(`UPDATE stream_users SET next_attempt_at = next_attempt_at - 900000 WHERE state = 'pending_delete'`),
    DB.prepare(`UPDATE stream_users SET task_id = 'claim:0:left-by-a-failed-run' WHERE task_id LIKE 'claim:%'`),
  ]);
}

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

describe('every deleted user is deleted within a bounded number of runs, and no living one ever', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: 60 users, 70% deleted, Stream refusing at random, 7 deletes per run`, async () => {
      const next = random(seed);
      const scenario = await Scenario.create();
      const env = await productionEnv(scenario, { RECONCILE_MAX_DELETES: '7', RECONCILE_BATCH_SIZE: '20', RECONCILE_MAX_BATCHES: '2' });
      const uids = Array.from({ length: 60 }, (_, i) => `u${String(i).padStart(2, '0')}`);
      const living = uids.filter(() => next() < 0.3);
      await registerAlive(uids);
      await scenario.seedStreamUsers(uids.map((id) => ({ id })));
      await scenario.setGoogleAdmin({ existing: living });
      const gone = uids.filter((uid) => !living.includes(uid));

      let runs = 0;
      // Bound: one sweep (2 runs) to find them all, ceil(gone / 7) runs to send them, and the
      // refusals' backoff (at most 4 refused runs here, each delaying a uid by at most one run).
      const bound = 2 + Math.ceil(gone.length / 7) + 8;
      while (runs < bound) {
        const refuse = runs < 4 && next() < 0.7;
        if (refuse) await scenario.scriptStream([{ method: 'POST', status: 403, body: { code: 17, message: 'refused' } }]);
        await runCron(env);
        runs++;
        await fifteenMinutesPass();
        const rows = await registryRows();
        if (gone.every((uid) => rows.get(uid)?.state === 'deleted')) break;
      }
      const rows = await registryRows();
      expect(
        gone.filter((uid) => rows.get(uid)?.state !== 'deleted'),
        `not deleted after ${runs} runs`,
      ).toEqual([]);
      expect(runs).toBeLessThanOrEqual(bound);
      const deleted = new Set(await streamDeletes(scenario));
      expect(living.filter((uid) => deleted.has(uid))).toEqual([]);
      expect((await scenario.streamUsers()).users.map((user) => user.id).sort()).toEqual([...living].sort());
    }, 60_000);
  }
});

describe('storage failing mid-run', () => {
  it('loses nothing: the run fails loudly, and the next healthy run finishes the job', async () => {
    const scenario = await Scenario.create();
    const uids = Array.from({ length: 30 }, (_, i) => `u${String(i).padStart(2, '0')}`);
    const living = uids.slice(0, 10);
    await registerAlive(uids);
    await scenario.seedStreamUsers(uids.map((id) => ({ id })));
    await scenario.setGoogleAdmin({ existing: living });

    // D1 answers the first few statements of a run, then fails every one after.
    for (const failAfter of [1, 3, 5, 8]) {
      let statements = 0;
      const flaky = new Proxy(DB, {
        get(target, property) {
          if (property !== 'prepare') return Reflect.get(target, property);
          return (sql: string) => {
            if (++statements > failAfter) throw new Error('D1_ERROR: storage unavailable');
            return target.prepare(sql);
          };
        },
      });
      const summary = await runCron(await productionEnv(scenario, { DB: flaky }));
      expect(summary.error, `failAfter ${failAfter}`).toEqual(expect.any(String));
    }
    const env = await productionEnv(scenario);
    for (let run = 0; run < 4; run++) {
      await runCron(env);
      await fifteenMinutesPass();
    }
    const rows = await registryRows();
    for (const uid of living) expect(rows.get(uid)?.state).toBe('active');
    for (const uid of uids.slice(10)) expect(rows.get(uid)?.state, uid).toBe('deleted');
    expect((await scenario.streamUsers()).users.map((user) => user.id).sort()).toEqual(living);
  });
});

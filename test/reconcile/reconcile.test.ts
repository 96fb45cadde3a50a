import { beforeEach, describe, expect, it } from 'vitest';
import { callable, callWorker, Scenario } from '../support/fixtures';
import {
  clearRegistry,
  makeDeletionsDue,
  DB,
  emulatorDeleteUser,
  emulatorHost,
  emulatorSignUp,
  productionEnv,
  register,
  registerAlive,
  withWitness,
  WITNESS,
  registryRows,
  runCron,
  streamDeletes,
} from '../support/reconcile';

// These tests share one D1 registry, so they run one after another and each starts empty.
beforeEach(clearRegistry);

describe('against the real Firebase Auth emulator', () => {
  it('deletes from Stream exactly the users deleted from Firebase, and records it', async () => {
    const scenario = await Scenario.create();
    await scenario.setGoogle({ keys: [] });
    const env = scenario.env({ DB, FIREBASE_AUTH_EMULATOR_HOST: emulatorHost(), RECONCILE_DELETE_INTERVAL_MS: '0' });

    const people = await Promise.all([1, 2, 3, 4, 5].map((n) => emulatorSignUp(`person${n}-${crypto.randomUUID()}@example.com`)));
    for (const person of people) {
      const response = await callable(env, 'createStreamUserAndGetToken', person.idToken);
      expect(response.status).toBe(200);
    }
    const uids = people.map((p) => p.uid);
    expect([...(await registryRows()).keys()].sort()).toEqual([...uids].sort());
    expect((await scenario.streamUsers()).users.map((u) => u.id).sort()).toEqual([...uids].sort());

    const gone = [uids[1]!, uids[3]!];
    for (const uid of gone) await emulatorDeleteUser(uid);

    const summary = await runCron(env);
    expect(summary).toMatchObject({ checked: 5, present: 3, deleted: 2, already_gone: 0, failed: 0, unknown: 0 });
    expect((await streamDeletes(scenario)).sort()).toEqual([...gone].sort());
    const stream = await scenario.streamUsers();
    expect(stream.users.map((u) => u.id).sort()).toEqual(uids.filter((uid) => !gone.includes(uid)).sort());

    const rows = await registryRows();
    for (const uid of uids) {
      if (gone.includes(uid)) expect(rows.get(uid)).toMatchObject({ state: 'deleted', deleted_how: 'cron:soft' });
      else expect(rows.get(uid)).toMatchObject({ state: 'active', deleted_how: null });
      expect(rows.get(uid)!.last_checked_at).not.toBeNull();
    }

    // A second run finds nothing more to do.
    expect(await runCron(env)).toMatchObject({ checked: 3, present: 3, deleted: 0 });
    expect(await streamDeletes(scenario)).toHaveLength(2);
  });
});

describe('production path: service account + accounts:lookup', () => {
  it('signs a valid JWT-bearer assertion and reuses the access token across runs', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    await register(['keep-1', 'gone-1']);
    await scenario.seedStreamUsers([{ id: 'keep-1' }, { id: 'gone-1' }]);
    await scenario.setGoogleAdmin({ existing: ['keep-1'] });

    expect(await runCron(env)).toMatchObject({ checked: 2, present: 1, deleted: 1 });
    expect(await runCron(env)).toMatchObject({ checked: 1, present: 1, deleted: 0 });
    const stats = await scenario.googleAdminStats();
    expect(stats.rejectedAssertions).toEqual([]);
    expect(stats.grants).toBe(1);
    expect(stats.lookups).toBe(2);
    expect(await streamDeletes(scenario)).toEqual(['gone-1']);
  });

  it('uses the configured delete mode', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { STREAM_DELETE_MODE: 'hard,messages,channels' });
    await register(['gone-1']);
    await withWitness(scenario);
    await scenario.seedStreamUsers([{ id: 'gone-1' }]);
    await runCron(env);
    const [request] = (await scenario.streamRequests()).filter((r) => r.path === '/users/delete');
    expect(request?.body).toEqual({ user_ids: ['gone-1'], user: 'hard', messages: 'hard', conversations: 'hard' });
    expect((await registryRows()).get('gone-1')).toMatchObject({ state: 'deleted', deleted_how: 'cron:hard,messages,channels' });
  });
});

describe('never deletes on doubt', () => {
  for (const lookupMode of ['error500', 'garbage', 'not-json', 'no-kind', 'hang'] as const) {
    it(`Firebase lookup "${lookupMode}" → zero deletions, the batch stays unchecked`, async () => {
      const scenario = await Scenario.create();
      const env = await productionEnv(scenario);
      await register(['a', 'b']);
      await scenario.seedStreamUsers([{ id: 'a' }, { id: 'b' }]);
      await scenario.setGoogleAdmin({ existing: [], lookupMode });

      const summary = await runCron(env);
      expect(summary).toMatchObject({ checked: 0, deleted: 0, unknown: 2 });
      expect(summary.error).toEqual(expect.any(String));
      expect(await streamDeletes(scenario)).toEqual([]);
      const rows = await registryRows();
      expect([rows.get('a'), rows.get('b')].map((row) => [row?.state, row?.last_checked_at])).toEqual([
        ['active', null],
        ['active', null],
      ]);
    }, 30_000);
  }

  it('the brake: a batch that is all missing, with no user known to exist to confirm it, deletes nothing', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    const uids = Array.from({ length: 12 }, (_, i) => `u${i}`);
    await register(uids);
    await scenario.seedStreamUsers(uids.map((id) => ({ id })));
    await scenario.setGoogleAdmin({ existing: [] }); // everyone "gone", and no witness to ask

    const summary = await runCron(env);
    expect(summary).toMatchObject({ deleted: 0, braked: 12, present: 0 });
    expect(String(summary.error)).toContain('FIREBASE_PROJECT_ID');
    expect(await streamDeletes(scenario)).toEqual([]);
    expect([...(await registryRows()).values()].filter((row) => row.state !== 'active')).toEqual([]);

    // The brake cannot jam: once Firebase confirms a user known to exist, the same uids are deleted
    // on the next sweep, with no setting changed.
    await registerAlive(['regular']);
    await scenario.setGoogleAdmin({ existing: ['regular'] });
    expect(await runCron(env)).toMatchObject({ deleted: 12, braked: 0 });
  });

  it('a wrong project id deletes nothing, run after run: Firebase sees none of the users known to exist', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    const uids = Array.from({ length: 30 }, (_, i) => `u${String(i).padStart(2, '0')}`);
    await registerAlive(uids);
    await scenario.seedStreamUsers(uids.map((id) => ({ id })));
    // A wrong project (or an emptied emulator) answers every lookup with nobody.
    await scenario.setGoogleAdmin({ existing: [] });
    for (let run = 0; run < 3; run++) {
      const summary = await runCron(env);
      expect(summary).toMatchObject({ deleted: 0, missing: 0, braked: 30 });
      expect(summary.error).toMatch(/brake/);
    }
    expect(await streamDeletes(scenario)).toEqual([]);
    expect((await scenario.streamUsers()).users).toHaveLength(30);
  });

  it('a wrong project with a registry of five deletes nothing: every batch asks the witnesses, whatever its size', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { RECONCILE_BATCH_SIZE: '3' }); // a full page, then a short last page
    const uids = ['u1', 'u2', 'u3', 'u4', 'u5'];
    await registerAlive(uids);
    await scenario.seedStreamUsers(uids.map((id) => ({ id })));
    await scenario.setGoogleAdmin({ existing: [] }); // another project: nobody there
    for (let run = 0; run < 2; run++) expect(await runCron(env)).toMatchObject({ checked: 5, braked: 5, missing: 0, sent: 0 });
    expect(await streamDeletes(scenario)).toEqual([]);
    // The right project: one of them really is gone; the others witness it.
    await scenario.setGoogleAdmin({ existing: ['u1', 'u2', 'u3', 'u4'] });
    expect(await runCron(env)).toMatchObject({ missing: 1, deleted: 1 });
    expect(await streamDeletes(scenario)).toEqual(['u5']);
  });

  it('a high deletion rate is not a brake: 90% of a batch deleted for real is deleted', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { RECONCILE_MAX_DELETES: '100' });
    const uids = Array.from({ length: 20 }, (_, i) => `u${String(i).padStart(2, '0')}`);
    await register(uids);
    await scenario.seedStreamUsers(uids.map((id) => ({ id })));
    await scenario.setGoogleAdmin({ existing: uids.slice(0, 2) });
    expect(await runCron(env)).toMatchObject({ present: 2, missing: 18, deleted: 18, braked: 0 });
  });

  it('a bare 404 (not Stream\'s own "not found") is a failure, not "already gone"', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    await register(['gone-1']);
    await withWitness(scenario);
    await scenario.scriptStream([{ status: 404, rawBody: '<html>Not Found</html>', method: 'POST' }]);
    expect(await runCron(env)).toMatchObject({ failed: 1, already_gone: 0 });
    expect((await registryRows()).get('gone-1')).toMatchObject({ state: 'pending_delete' });
  });

  it('a Stream user that was never registered is never deleted', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    await register(['registered-gone']);
    await scenario.seedStreamUsers([{ id: 'registered-gone' }, { id: 'support-bot' }, { id: 'admin-1' }]);
    await withWitness(scenario);

    await runCron(env);
    expect(await streamDeletes(scenario)).toEqual(['registered-gone']);
    expect((await scenario.streamUsers()).users.map((u) => u.id).sort()).toEqual(['admin-1', 'support-bot']);
  });

  it('dry run deletes nothing and says what it would delete', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { RECONCILE_DRY_RUN: 'true' });
    await register(['gone-1', 'keep-1']);
    await scenario.seedStreamUsers([{ id: 'gone-1' }, { id: 'keep-1' }]);
    await scenario.setGoogleAdmin({ existing: ['keep-1'] });

    expect(await runCron(env)).toMatchObject({ dry_run: true, would_delete: 1, deleted: 0, present: 1 });
    expect(await streamDeletes(scenario)).toEqual([]);
    expect((await registryRows()).get('gone-1')?.state).toBe('active');
  });
});

describe('cost', () => {
  it('a steady-state sweep writes no D1 rows for users who are still there', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    const uids = Array.from({ length: 60 }, (_, i) => `u${String(i).padStart(2, '0')}`);
    await register(uids);
    await scenario.setGoogleAdmin({ existing: uids });
    const first = await runCron(env);
    expect(first).toMatchObject({ checked: 60, present: 60 });
    expect(first.d1_rows_written as number).toBeGreaterThanOrEqual(60); // first check: each uid recorded once
    const second = await runCron(env);
    expect(second).toMatchObject({ checked: 60, present: 60 });
    expect(second.d1_rows_written as number).toBeLessThanOrEqual(2); // only the sweep's own state
  });
});

describe('failures and interruptions', () => {
  it('a failed Stream delete stays pending and is retried first on the next run', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    await register(['gone-1']);
    await withWitness(scenario);
    await scenario.seedStreamUsers([{ id: 'gone-1' }]);
    const failure = { status: 500, body: { code: -1, message: 'boom' }, method: 'POST' };
    await scenario.scriptStream([failure, failure, failure]);

    expect(await runCron(env)).toMatchObject({ failed: 1, deleted: 0 });
    expect((await registryRows()).get('gone-1')).toMatchObject({ state: 'pending_delete', failures: 1 });
    expect((await scenario.streamUsers()).users.map((u) => u.id)).toEqual(['gone-1']);

    // Retried after its backoff (here: made due at once), before anything found later.
    await makeDeletionsDue();
    expect(await runCron(env)).toMatchObject({ deleted: 1, failed: 0 });
    expect((await registryRows()).get('gone-1')).toMatchObject({ state: 'deleted' });
    expect((await scenario.streamUsers()).users).toEqual([]);
  });

  it('a run interrupted after Stream deleted but before the registry recorded it finishes without a second delete', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    await register(['gone-1', 'gone-2']);
    await withWitness(scenario);
    // The interrupted run had deleted gone-1 from Stream, then stopped before recording it.
    await scenario.seedStreamUsers([{ id: 'gone-1' }, { id: 'gone-2' }]);
    await deleteInStandIn(scenario, 'gone-1');

    expect(await runCron(env)).toMatchObject({ deleted: 1, already_gone: 1, failed: 0 });
    const rows = await registryRows();
    expect(rows.get('gone-1')).toMatchObject({ state: 'deleted', deleted_how: 'cron:already_gone' });
    expect(rows.get('gone-2')).toMatchObject({ state: 'deleted', deleted_how: 'cron:soft' });

    expect(await runCron(env)).toMatchObject({ checked: 1, deleted: 0 }); // only the witness is left to check
  });

  it('a pending deletion whose account was recreated with the same uid is not sent, and the uid is active again', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    await register(['back']);
    await withWitness(scenario);
    await scenario.seedStreamUsers([{ id: 'back', name: 'Back again' }]);
    const failure = { status: 500, body: { code: -1, message: 'boom' }, method: 'POST' };
    await scenario.scriptStream([failure, failure, failure]);
    expect(await runCron(env)).toMatchObject({ missing: 1, failed: 1 }); // confirmed gone; Stream failed; pending
    await scenario.setGoogleAdmin({ existing: [WITNESS, 'back'] }); // the account is created again with the same uid
    await makeDeletionsDue();
    expect(await runCron(env)).toMatchObject({ revived: 1, sent: 0, deleted: 0 });
    expect((await registryRows()).get('back')).toMatchObject({ state: 'active', failures: 0, task_id: null });
    expect((await scenario.streamUsers()).users.map((user) => user.id)).toEqual(['back']);
  });

  it('the per-run delete budget defers the rest to the next run', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { RECONCILE_MAX_DELETES: '2' });
    const uids = ['g1', 'g2', 'g3', 'g4', 'g5'];
    await register(uids);
    await withWitness(scenario);
    await scenario.seedStreamUsers(uids.map((id) => ({ id })));

    expect(await runCron(env)).toMatchObject({ deleted: 2, deferred: 3 });
    expect(await runCron(env)).toMatchObject({ deleted: 2, deferred: 1 });
    expect(await runCron(env)).toMatchObject({ deleted: 1, deferred: 0 });
    expect((await streamDeletes(scenario)).sort()).toEqual(uids);
  });

  it('a registry larger than one run is fully covered after enough runs, in cursor order', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { RECONCILE_BATCH_SIZE: '40', RECONCILE_MAX_BATCHES: '2' });
    const uids = Array.from({ length: 230 }, (_, i) => `user-${String(i).padStart(3, '0')}`);
    await register(uids);
    await scenario.setGoogleAdmin({ existing: uids });

    // 230 uids, 80 per run: the sweep's cursor moves on each run, so three runs reach every one of them.
    const afterRun: number[] = [];
    const checked: unknown[] = [];
    for (let run = 0; run < 3; run++) {
      checked.push((await runCron(env)).checked);
      afterRun.push([...(await registryRows()).values()].filter((row) => row.last_checked_at === null).length);
    }
    expect(checked).toEqual([80, 80, 70]);
    expect(afterRun).toEqual([150, 70, 0]);
    expect(await streamDeletes(scenario)).toEqual([]);
  });
});

/** Deletes a user in the Stream stand-in as the real API would, with a valid server token. */
async function deleteInStandIn(scenario: Scenario, uid: string): Promise<void> {
  const { StreamRestClient } = await import('../../src/stream/rest-client');
  const { StreamTokenSigner } = await import('../../src/stream/tokens');
  const client = new StreamRestClient({
    now: Date.now,
    baseUrl: scenario.streamBaseUrl,
    apiKey: 'k',
    signer: new StreamTokenSigner(scenario.streamSecret),
  });
  await client.deleteUsers([uid], { user: 'soft' });
}

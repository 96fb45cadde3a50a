/**
 * Deleting with Stream's batch API (src/reconcile/deleter.ts), through the
 * cron: tasks, budgets, Stream's refusals and rate limits, interruptions.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { StreamTokenSigner } from '../../src/stream/tokens';
import { Scenario, STREAM_API_KEY } from '../support/fixtures';
import {
  clearRegistry,
  DB,
  makeDeletionsDue,
  productionEnv,
  register,
  registryRows,
  runCron,
  streamDeletes,
  withWitness,
} from '../support/reconcile';

beforeEach(clearRegistry);

/** Registered users gone from Firebase, still in Stream; Firebase still sees `witness`, so the brake confirms the configuration. */
/** Users someone else deleted from Stream: gone, with Stream's tombstone. */
async function deleteEverywhere(scenario: Scenario, uids: string[]): Promise<void> {
  await scenario.seedStreamUsers(uids.map((id) => ({ id })));
  const base = scenario.streamBaseUrl;
  for (const uid of uids) {
    const response = await fetch(`${base}/users/${uid}?api_key=${STREAM_API_KEY}`, {
      method: 'DELETE',
      headers: { Authorization: await new StreamTokenSigner(scenario.streamSecret).serverToken(), 'stream-auth-type': 'jwt' },
    });
    if (!response.ok) throw new Error(`stand-in delete: ${response.status}`);
  }
}

async function goneUsers(scenario: Scenario, uids: string[]): Promise<void> {
  await register(uids);
  await DB.prepare(`INSERT OR IGNORE INTO stream_users (uid, first_seen_at, alive_at) VALUES ('witness', 0, 1)`).run();
  await scenario.seedStreamUsers(uids.map((id) => ({ id })));
  await scenario.setGoogleAdmin({ existing: ['witness'] });
}

describe('Stream batch delete', () => {
  it('sends up to 100 ids per request, in the configured mode, and records each one', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { RECONCILE_MAX_DELETES: '150', STREAM_DELETE_MODE: 'soft,messages' });
    const uids = Array.from({ length: 8 }, (_, i) => `g${i}`);
    await goneUsers(scenario, uids);
    expect(await runCron(env)).toMatchObject({ missing: 8, sent: 8, deleted: 8, failed: 0 });
    const requests = (await scenario.streamRequests()).filter((r) => r.path === '/users/delete');
    expect(requests).toHaveLength(1);
    expect(requests[0]!.body).toEqual({ user_ids: uids, user: 'soft', messages: 'soft' });
    const rows = await registryRows();
    for (const uid of uids) expect(rows.get(uid)).toMatchObject({ state: 'deleted', deleted_how: 'cron:soft,messages', task_id: null });
  });

  it('RECONCILE_MAX_DELETES bounds the ids sent to Stream, already-gone ones included', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { RECONCILE_MAX_DELETES: '3' });
    const uids = ['a1', 'a2', 'a3', 'a4', 'a5'];
    await register(uids);
    await withWitness(scenario);
    await deleteEverywhere(scenario, uids); // gone from Stream too, by someone else: Stream keeps their tombstones
    expect(await runCron(env)).toMatchObject({ sent: 3, already_gone: 3, deferred: 2 });
    expect(await streamDeletes(scenario)).toHaveLength(3);
    expect(await runCron(env)).toMatchObject({ sent: 2, already_gone: 2, deferred: 0 });
  });

  it('a uid Stream never had (tokens only, never connected) is created empty and deleted, so no old token can bring it back', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    await register(['never-connected']);
    await withWitness(scenario);
    const summary = await runCron(env);
    expect(summary).toMatchObject({ sent: 2, deleted: 1, already_gone: 0 }); // sent, found missing; created; sent again
    expect((await registryRows()).get('never-connected')).toMatchObject({ state: 'deleted', deleted_how: 'cron:soft' });
    expect((await scenario.streamUsers()).deleted).toContain('never-connected'); // Stream's tombstone: it refuses the uid from now on
  });

  it('a uid a task found missing, which a client created since (Stream creates users on connect), is deleted, never overwritten by the empty upsert', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { RECONCILE_TASK_WAIT_MS: '0' });
    await register(['late-connect']);
    await withWitness(scenario);
    await scenario.setStreamTasks({ runningPolls: 1 });
    expect(await runCron(env)).toMatchObject({ sent: 1, in_task: 1 }); // the task will say "not found"
    await scenario.seedStreamUsers([{ id: 'late-connect', name: 'Connected meanwhile', custom: 'kept until deleted' }]);
    // The task's news is old: the user is due again, and sent again in the same run (its task still running).
    expect(await runCron(env)).toMatchObject({ in_task: 2, deleted: 0, sent: 1 });
    expect(await runCron(env)).toMatchObject({ deleted: 1 });
    const upserts = (await scenario.streamRequests()).filter((r) => r.method === 'POST' && r.path.endsWith('/users'));
    expect(upserts).toEqual([]);
    expect(await streamDeletes(scenario)).toEqual(['late-connect', 'late-connect']);
    expect((await registryRows()).get('late-connect')).toMatchObject({ state: 'deleted' });
  });

  it('a task still running when the run ends is resumed by the next run, without a second delete', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { RECONCILE_TASK_WAIT_MS: '0' });
    await goneUsers(scenario, ['slow-1', 'slow-2']);
    await scenario.setStreamTasks({ runningPolls: 2 });
    expect(await runCron(env)).toMatchObject({ sent: 2, in_task: 2, deleted: 0 });
    const taskId = (await registryRows()).get('slow-1')?.task_id;
    expect(taskId).toMatch(/^task-/);
    expect(await runCron(env)).toMatchObject({ in_task: 2, deleted: 0, sent: 0 }); // still running
    expect(await runCron(env)).toMatchObject({ deleted: 2, sent: 0 });
    expect(await streamDeletes(scenario)).toEqual(['slow-1', 'slow-2']);
    expect((await registryRows()).get('slow-2')).toMatchObject({ state: 'deleted', task_id: null });
  });

  it('a uid the task reports failed is retried after a backoff; the others are done', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    await goneUsers(scenario, ['ok-1', 'bad-1', 'ok-2']);
    await scenario.setStreamTasks({ failUids: ['bad-1'] });
    expect(await runCron(env)).toMatchObject({ deleted: 2, failed: 1 });
    const bad = (await registryRows()).get('bad-1')!;
    expect(bad).toMatchObject({ state: 'pending_delete', failures: 1, last_error: 'internal error deleting user', task_id: null });
    expect(bad.next_attempt_at).toBeGreaterThan(Date.now() + 30_000);
    expect(await runCron(env)).toMatchObject({ sent: 0 }); // not due yet
    await scenario.setStreamTasks({ failUids: [] });
    await makeDeletionsDue();
    expect(await runCron(env)).toMatchObject({ sent: 1, deleted: 1 });
  });

  it('a uid that always fails cannot starve the others: its backoff lets later deletions go first', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { RECONCILE_MAX_DELETES: '1' });
    await goneUsers(scenario, ['stuck']);
    await scenario.setStreamTasks({ failUids: ['stuck'] });
    expect(await runCron(env)).toMatchObject({ sent: 1, failed: 1 });
    await goneUsers(scenario, ['later-1', 'later-2']);
    // Budget 1 per run: the stuck uid is not due, so the new ones go.
    expect(await runCron(env)).toMatchObject({ sent: 1, deleted: 1 });
    expect(await runCron(env)).toMatchObject({ sent: 1, deleted: 1 });
    expect((await registryRows()).get('stuck')?.state).toBe('pending_delete');
  });

  // [label, the answer, how many times the client sends the request before giving up]
  for (const [label, failure, attempts] of [
    ['403', { status: 403, body: { code: 17, message: 'not allowed' } }, 1],
    ['500 (after retries)', { status: 500, body: { code: -1, message: 'boom' } }, 3],
    [
      '429 with a long reset',
      {
        status: 429,
        body: { code: 9, message: 'Too many requests' },
        headers: { 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': String(Math.floor(Date.now() / 1000) + 3600) },
      },
      1,
    ],
  ] as const) {
    it(`Stream answering ${label} leaves the uids pending, recorded with the error, for a later run`, async () => {
      const scenario = await Scenario.create();
      const env = await productionEnv(scenario);
      await goneUsers(scenario, ['g1', 'g2']);
      await scenario.scriptStream(Array.from({ length: attempts }, () => ({ ...failure, method: 'POST' })));
      expect(await runCron(env)).toMatchObject({ deleted: 0, failed: 2 });
      const rows = await registryRows();
      expect(rows.get('g1')).toMatchObject({ state: 'pending_delete', failures: 1 });
      expect(rows.get('g1')?.last_error).toContain(failure.status === 500 ? '500' : String(failure.status));
      expect((await scenario.streamUsers()).users).toHaveLength(2);
      await makeDeletionsDue();
      if (failure.status === 429) {
        // Stream said its window is spent for an hour: nothing is sent until it resets.
        expect(await runCron(env)).toMatchObject({ sent: 0, deleted: 0, deferred: 2 });
      } else {
        expect(await runCron(env)).toMatchObject({ deleted: 2 });
      }
    });
  }

  it("stops sending when Stream's rate limit for deletes is spent (X-RateLimit-Remaining: 0)", async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { RECONCILE_MAX_DELETES: '300', RECONCILE_DELETE_INTERVAL_MS: '0' });
    const uids = Array.from({ length: 150 }, (_, i) => `g${String(i).padStart(3, '0')}`);
    await goneUsers(scenario, uids);
    const reset = String(Math.floor(Date.now() / 1000) + 60);
    await scenario.scriptStream([
      {
        method: 'POST',
        status: 201,
        body: { task_id: 'task-limited', duration: '1ms' },
        headers: { 'X-RateLimit-Limit': '60', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': reset },
      },
    ]);
    const summary = await runCron(env);
    // One request of 100 went out; the other 50 wait for the window to reset.
    expect(summary).toMatchObject({ sent: 100, deferred: 50 });
    expect((await scenario.streamRequests()).filter((r) => r.path === '/users/delete')).toHaveLength(1);
  });

  it('a claim left by an invocation that died before Stream answered is released and retried', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    await goneUsers(scenario, ['orphan']);
    await DB.prepare(`UPDATE stream_users SET state = 'pending_delete', next_attempt_at = 0, task_id = ?1 WHERE uid = 'orphan'`)
      .bind(`claim:${Date.now() - 3_600_000}:dead`)
      .run();
    expect(await runCron(env)).toMatchObject({ failed: 1 });
    expect((await registryRows()).get('orphan')).toMatchObject({
      state: 'pending_delete',
      task_id: null,
      last_error: 'interrupted before Stream answered',
    });
    await makeDeletionsDue();
    expect(await runCron(env)).toMatchObject({ deleted: 1 });
  });

  it('a task Stream no longer knows is sent again', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    await goneUsers(scenario, ['lost']);
    await DB.prepare(
      `UPDATE stream_users SET state = 'pending_delete', next_attempt_at = 0, task_id = 'task-unknown' WHERE uid = 'lost'`,
    ).run();
    expect(await runCron(env)).toMatchObject({ failed: 1 });
    await makeDeletionsDue();
    expect(await runCron(env)).toMatchObject({ deleted: 1 });
  });

  it('a deactivated user in a batch Stream refused as "does not exist" is still deleted', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    await register(['active-gone', 'deactivated-gone', 'ghost']);
    await withWitness(scenario);
    await scenario.seedStreamUsers([{ id: 'active-gone' }, { id: 'deactivated-gone', deactivated_at: '2026-01-01T00:00:00Z' }]);
    // Stream refuses the whole request because "ghost" does not exist (someone deleted it).
    await scenario.scriptStream([{ method: 'POST', status: 404, body: { code: 16, message: 'user "ghost" does not exist' } }]);
    await deleteEverywhere(scenario, ['ghost']);
    expect(await runCron(env)).toMatchObject({ deleted: 2, already_gone: 1, failed: 0 });
    const rows = await registryRows();
    expect(rows.get('deactivated-gone')).toMatchObject({ state: 'deleted', deleted_how: 'cron:soft' });
    expect(rows.get('ghost')).toMatchObject({ state: 'deleted', deleted_how: 'cron:already_gone' });
    expect((await scenario.streamUsers()).users).toEqual([]);
    const query = (await scenario.streamRequests()).find((request) => request.method === 'GET' && request.path === '/users');
    expect(JSON.parse(query!.query.payload!)).toMatchObject({ include_deactivated_users: true });
  });

  it('Stream saying "does not exist" again for users it lists is a failure with backoff, not a loop', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    await register(['stubborn']);
    await withWitness(scenario);
    await scenario.seedStreamUsers([{ id: 'stubborn' }]);
    const refusal = { method: 'POST', status: 404, body: { code: 16, message: 'user does not exist' } };
    await scenario.scriptStream([refusal, refusal, refusal]);
    expect(await runCron(env)).toMatchObject({ deleted: 0, failed: 1 });
    expect((await registryRows()).get('stubborn')).toMatchObject({ state: 'pending_delete', failures: 1, task_id: null });
    expect(await streamDeletes(scenario)).toEqual(['stubborn', 'stubborn']); // the first send and one retry
    await makeDeletionsDue();
    expect(await runCron(env)).toMatchObject({ deleted: 1 }); // Stream answers normally again
  });
});

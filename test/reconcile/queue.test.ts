/**
 * Queue mode: the cron only pages through the registry and enqueues lookup
 * batches; the Worker's queue handler checks and deletes them. The producer
 * is a recording stand-in; the consumer is the real handler, fed with
 * `createMessageBatch` and judged with `getQueueResult`.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Env } from '../../src/env';
import worker from '../../src/index';
import { sendBatches } from '../../src/reconcile/reconcile';
import type { ReconcileMessage } from '../../src/reconcile/types';
import { captureConsole } from '../support/console';
import { Scenario } from '../support/fixtures';
import { clearRegistry, productionEnv, register, registerAlive, registryRows, runCron, streamDeletes } from '../support/reconcile';

beforeEach(clearRegistry);

/** A queue producer that keeps what was sent. */
function recordingQueue() {
  const sent: ReconcileMessage[] = [];
  const queue = {
    send: async (body: ReconcileMessage) => void sent.push(body),
    sendBatch: async (messages: Iterable<MessageSendRequest<ReconcileMessage>>) => {
      const list = [...messages];
      if (list.length > 100) throw new Error('sendBatch takes at most 100 messages');
      for (const message of list) sent.push(message.body);
    },
  } as unknown as Queue<ReconcileMessage>;
  return { queue, sent };
}

async function consume(env: Env, bodies: unknown[]) {
  const batch = createMessageBatch<ReconcileMessage>(
    'stream-token-edge-reconcile',
    bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body: body as ReconcileMessage })),
  );
  const ctx = createExecutionContext();
  const log = captureConsole();
  try {
    await worker.queue!(batch, env, ctx);
  } finally {
    log.restore();
  }
  const result = await getQueueResult(batch, ctx);
  const summary = JSON.parse(log.lines.find((line) => line.includes('"reconcile_summary"'))!) as Record<string, unknown>;
  return { result, summary };
}

describe('sendBatches', () => {
  it('splits at 100 messages and well under 256 KB, whatever the uids and tenants weigh', () => {
    const message = (uidLength: number, tenant: string) => ({
      body: { kind: 'check' as const, uids: Array.from({ length: 100 }, (_, i) => ({ uid: `${i}`.padEnd(uidLength, 'x'), tenant })) },
    });
    const heavy = Array.from({ length: 50 }, () => message(128, 'tenant-with-a-long-name-0123456789'));
    const batches = [...sendBatches(heavy)];
    expect(batches.flat()).toHaveLength(50);
    for (const batch of batches) expect(JSON.stringify(batch.map((m) => m.body)).length).toBeLessThan(220_000);
    expect(batches.length).toBeGreaterThan(1);
    const light = Array.from({ length: 250 }, () => ({ body: { kind: 'check' as const, uids: [{ uid: 'a', tenant: '' }] } }));
    expect([...sendBatches(light)].map((batch) => batch.length)).toEqual([100, 100, 50]);
  });
});

describe('queue mode', () => {
  it('the cron pages the whole registry into lookup batches and deletes nothing itself', async () => {
    const scenario = await Scenario.create();
    const { queue, sent } = recordingQueue();
    const env = await productionEnv(scenario, { RECONCILE_QUEUE: queue, RECONCILE_BATCH_SIZE: '50' });
    const uids = Array.from({ length: 260 }, (_, i) => `u${String(i).padStart(3, '0')}`);
    await register(uids.slice(0, 200));
    await register(uids.slice(200), 'tenant-t');

    const summary = await runCron(env);
    expect(summary).toMatchObject({ mode: 'queue', enqueued: 260, checked: 0, sent: 0, sweep_completed: true });
    expect(sent.map((message) => message.uids.length)).toEqual([50, 50, 50, 50, 50, 10]);
    expect(sent.flatMap((message) => message.uids.map((entry) => entry.uid))).toEqual(uids);
    expect(sent[5]!.uids[0]).toEqual({ uid: 'u250', tenant: 'tenant-t' });
    expect(await scenario.googleAdminStats()).toMatchObject({ lookups: 0 });

    // The sweep reached the end of the registry; the next run starts the next one.
    expect(await runCron(env)).toMatchObject({ enqueued: 260 });
    expect(sent).toHaveLength(12);
  });

  it('a run enqueues at most RECONCILE_QUEUE_BATCHES_PER_RUN batches and the next run goes on from there', async () => {
    const scenario = await Scenario.create();
    const { queue, sent } = recordingQueue();
    const env = await productionEnv(scenario, { RECONCILE_QUEUE: queue, RECONCILE_BATCH_SIZE: '10', RECONCILE_QUEUE_BATCHES_PER_RUN: '3' });
    await register(Array.from({ length: 45 }, (_, i) => `u${String(i).padStart(2, '0')}`));
    expect(await runCron(env)).toMatchObject({ enqueued: 30 });
    expect(await runCron(env)).toMatchObject({ enqueued: 15 });
    expect(new Set(sent.flatMap((message) => message.uids.map((entry) => entry.uid))).size).toBe(45);
  });

  it('a queue that refuses a send fails the run loudly, and the next run enqueues that page again: nothing skipped', async () => {
    const scenario = await Scenario.create();
    const sent: ReconcileMessage[] = [];
    let refuse = true;
    const queue = {
      sendBatch: async (messages: Iterable<MessageSendRequest<ReconcileMessage>>) => {
        if (refuse) throw new Error('Queue send failed: 500');
        for (const message of messages) sent.push(message.body);
      },
    } as unknown as Queue<ReconcileMessage>;
    const env = await productionEnv(scenario, { RECONCILE_QUEUE: queue, RECONCILE_BATCH_SIZE: '10' });
    await register(Array.from({ length: 25 }, (_, i) => `u${String(i).padStart(2, '0')}`));
    const failed = await runCron(env);
    expect(failed.error).toMatch(/Queue send failed/);
    expect(failed).toMatchObject({ enqueued: 0 });
    refuse = false;
    expect(await runCron(env)).toMatchObject({ enqueued: 25, sweep_completed: true });
    expect(new Set(sent.flatMap((message) => message.uids.map((entry) => entry.uid))).size).toBe(25);
  });

  it('the consumer checks each batch in its tenant, deletes the gone, and acknowledges', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    await register(['keep', 'gone-1', 'gone-2']);
    await scenario.seedStreamUsers([{ id: 'keep' }, { id: 'gone-1' }, { id: 'gone-2' }]);
    await scenario.setGoogleAdmin({ existing: ['keep'] });
    const { result, summary } = await consume(env, [
      {
        kind: 'check',
        uids: [
          { uid: 'keep', tenant: '' },
          { uid: 'gone-1', tenant: '' },
        ],
      },
      { kind: 'check', uids: [{ uid: 'gone-2', tenant: '' }] },
    ]);
    expect(result.explicitAcks.sort()).toEqual(['m0', 'm1']);
    expect(result.retryMessages).toEqual([]);
    expect(summary).toMatchObject({ mode: 'consumer', checked: 3, present: 1, missing: 2, deleted: 2 });
    expect((await streamDeletes(scenario)).sort()).toEqual(['gone-1', 'gone-2']);
  });

  it('a batch Firebase cannot answer is retried by the queue (then dead-lettered), with nothing deleted', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    await register(['a']);
    await scenario.setGoogleAdmin({ lookupMode: 'error500' });
    const { result, summary } = await consume(env, [{ kind: 'check', uids: [{ uid: 'a', tenant: '' }] }]);
    expect(result.retryMessages).toMatchObject([{ msgId: 'm0' }]);
    expect(result.explicitAcks).toEqual([]);
    expect(summary).toMatchObject({ unknown: 1, deleted: 0 });
    expect((await registryRows()).get('a')).toMatchObject({ state: 'active', last_checked_at: null });
  });

  it('a batch the brake holds is acknowledged and its uids left for the next sweep', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    const uids = Array.from({ length: 12 }, (_, i) => `u${i}`);
    await registerAlive(uids);
    await scenario.setGoogleAdmin({ existing: [] }); // a wrong configuration: nobody is seen
    const { result, summary } = await consume(env, [{ kind: 'check', uids: uids.map((uid) => ({ uid, tenant: '' })) }]);
    expect(result.explicitAcks).toEqual(['m0']);
    expect(summary).toMatchObject({ braked: 12, deleted: 0 });
    expect(await streamDeletes(scenario)).toEqual([]);
  });

  it('a malformed message is acknowledged and logged, never retried forever', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario);
    const { result } = await consume(env, [{ kind: 'check', uids: 'nope' }, { something: 'else' }]);
    expect(result.explicitAcks.sort()).toEqual(['m0', 'm1']);
    expect(result.retryMessages).toEqual([]);
  });
});

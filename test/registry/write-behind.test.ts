import { beforeEach, describe, expect, it } from 'vitest';
import { UserRegistry } from '../../src/registry/registry';
import { recordQueuedRegistrations, RegistryWriteBehind, type RegisterMessage } from '../../src/registry/write-behind';
import { captureConsole } from '../support/console';
import { brokenDb, clearRegistry, DB, register, registryRows } from '../support/reconcile';

beforeEach(clearRegistry);

function background() {
  const pending: Promise<unknown>[] = [];
  const settle = async () => {
    while (pending.length > 0) await pending.shift();
  };
  return { waitUntil: (promise: Promise<unknown>) => void pending.push(promise), settle, pending };
}

/** D1 that counts the statements it runs, and fails them while `down` is set. */
function countingDb() {
  const state = { statements: 0, down: false };
  const db = {
    prepare: (sql: string) => {
      const statement = DB.prepare(sql);
      return {
        bind: (...values: unknown[]) => ({
          run: async () => {
            state.statements++;
            if (state.down) throw new Error('D1_ERROR: storage unavailable');
            return statement.bind(...values).run();
          },
        }),
      };
    },
  } as unknown as D1Database;
  return { db, state };
}

describe('RegistryWriteBehind', () => {
  it('gathers the uids seen during its wait, and those seen while a statement is on its way, into one statement each', async () => {
    const { db, state } = countingDb();
    let endWait = () => {};
    const wait = () => new Promise<void>((resolve) => (endWait = resolve));
    const writes = new RegistryWriteBehind({ registry: new UserRegistry(db), now: () => 1_000, sleep: wait });
    const bg = background();
    for (let i = 0; i < 50; i++) writes.refresh({ uid: `u${i}`, tenant: '', at: 1_000 + i }, bg.waitUntil);
    expect(bg.pending).toHaveLength(1); // one flush, waiting
    expect(state.statements).toBe(0);
    endWait();
    await Promise.resolve();
    for (let i = 50; i < 60; i++) writes.refresh({ uid: `u${i}`, tenant: '', at: 1_000 + i }, bg.waitUntil); // while the first statement runs
    await bg.settle();
    expect(state.statements).toBe(2);
    expect((await registryRows()).size).toBe(60);
    expect(writes.waiting).toBe(0);
  });

  it('keeps a registration D1 could not take and writes it when D1 answers again, with a backoff and no uid in the log', async () => {
    const { db, state } = countingDb();
    let now = 10_000;
    const writes = new RegistryWriteBehind({ registry: new UserRegistry(db), now: () => now, sleep: async () => {} });
    const bg = background();
    state.down = true;
    const log = captureConsole();
    try {
      expect(await writes.defer({ uid: 'secret-uid', tenant: '', at: now }, bg.waitUntil)).toBe(false);
      await bg.settle();
      writes.kick(bg.waitUntil); // within the backoff: nothing tried
      await bg.settle();
    } finally {
      log.restore();
    }
    expect(state.statements).toBe(1);
    expect(writes.waiting).toBe(1);
    expect(log.lines.join('\n')).toContain('registry_write_failed');
    expect(log.lines.join('\n')).not.toContain('secret-uid');
    state.down = false;
    now += 60_000;
    writes.kick(bg.waitUntil);
    await bg.settle();
    expect((await registryRows()).get('secret-uid')).toMatchObject({ state: 'active', first_seen_at: 10_000 });
    expect(writes.waiting).toBe(0);
  });

  it('sends a registration to the queue when one is bound (durable), and keeps it when the queue fails too', async () => {
    const sent: unknown[] = [];
    let queueDown = false;
    const queue = {
      send: async (body: unknown) => {
        if (queueDown) throw new Error('queue down');
        sent.push(body);
      },
    } as unknown as Queue<RegisterMessage>;
    const writes = new RegistryWriteBehind({ registry: new UserRegistry(brokenDb), now: () => 5, queue, sleep: async () => {} });
    const bg = background();
    expect(await writes.defer({ uid: 'ada', tenant: '', at: 5 }, bg.waitUntil)).toBe(true);
    expect(sent).toEqual([{ kind: 'register', uids: [{ uid: 'ada', tenant: '', at: 5 }] }]);
    expect(writes.waiting).toBe(0);
    queueDown = true;
    const log = captureConsole();
    try {
      expect(await writes.defer({ uid: 'bob', tenant: '', at: 5 }, bg.waitUntil)).toBe(false);
      await bg.settle();
    } finally {
      log.restore();
    }
    expect(writes.waiting).toBe(1);
  });

  it('a flush that outlived its request (the runtime ended it) does not stop the next one, and its batch is written by it', async () => {
    let now = 0;
    let hang = true;
    const db = {
      prepare: (sql: string) => ({
        bind: (...values: unknown[]) => ({
          run: () =>
            hang
              ? new Promise(() => undefined)
              : DB.prepare(sql)
                  .bind(...values)
                  .run(),
        }),
      }),
    } as unknown as D1Database;
    const writes = new RegistryWriteBehind({ registry: new UserRegistry(db), now: () => now, sleep: async () => {} });
    const started: Promise<unknown>[] = [];
    writes.refresh({ uid: 'a', tenant: '', at: 0 }, (p) => void started.push(p));
    writes.refresh({ uid: 'b', tenant: '', at: 0 }, (p) => void started.push(p));
    expect(started).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 5)); // the first flush's statement is on its way, and never returns
    hang = false;
    now += 36_000;
    writes.kick((p) => void started.push(p));
    expect(started).toHaveLength(2);
    await started[1];
    const rows = await registryRows();
    expect(rows.has('a') && rows.has('b')).toBe(true);
  });
});

async function quietly(body: () => Promise<void>): Promise<void> {
  const log = captureConsole();
  try {
    await body();
  } finally {
    log.restore();
  }
}

describe('recordQueuedRegistrations (the queue consumer)', () => {
  function message(body: unknown) {
    const outcome = { acked: false, retried: false };
    return {
      outcome,
      message: { id: 'm', body, ack: () => (outcome.acked = true), retry: () => (outcome.retried = true) } as unknown as Message<unknown>,
    };
  }

  it('records every uid of the batch and acknowledges; a malformed message is acknowledged and logged', async () => {
    await register(['ada'], '');
    const good = message({
      kind: 'register',
      uids: [
        { uid: 'bob', tenant: '', at: 3 },
        { uid: 'ada', tenant: '', at: 4 },
      ],
    });
    const bad = message({ kind: 'register', uids: [{ uid: 42 }] });
    const log = captureConsole();
    try {
      await recordQueuedRegistrations([good.message, bad.message], new UserRegistry(DB));
    } finally {
      log.restore();
    }
    expect(good.outcome).toEqual({ acked: true, retried: false });
    expect(bad.outcome).toEqual({ acked: true, retried: false });
    expect(log.lines.join('\n')).toContain('registry_message_invalid');
    const rows = await registryRows();
    expect(rows.get('bob')).toMatchObject({ first_seen_at: 3, alive_at: 3 });
    expect(rows.get('ada')?.alive_at).toBe(4);
  });

  it('keeps a registration coming back for as long as D1 is down: retried with a growing delay, then sent anew before the queue gives up', async () => {
    const sent: { body: unknown; delaySeconds?: number }[] = [];
    const queue = {
      send: async (body: unknown, options?: { delaySeconds?: number }) => void sent.push({ body, delaySeconds: options?.delaySeconds }),
    } as unknown as Queue<RegisterMessage>;
    const retried: (number | undefined)[] = [];
    const body = { kind: 'register', uids: [{ uid: 'bob', tenant: '', at: 3 }] };
    const delivery = (attempts: number, payload: unknown = body) => {
      const outcome = { acked: false };
      const message = {
        id: 'm',
        body: payload,
        attempts,
        ack: () => (outcome.acked = true),
        retry: (o?: { delaySeconds?: number }) => retried.push(o?.delaySeconds),
      } as unknown as Message<unknown>;
      return { message, outcome };
    };
    await quietly(async () => {
      await recordQueuedRegistrations([delivery(1).message], new UserRegistry(brokenDb), queue);
      await recordQueuedRegistrations([delivery(2).message], new UserRegistry(brokenDb), queue);
      const third = delivery(3);
      await recordQueuedRegistrations([third.message], new UserRegistry(brokenDb), queue);
      expect(third.outcome.acked).toBe(true);
    });
    expect(retried).toEqual([30, 60]);
    expect(sent).toEqual([{ body: { ...body, round: 3 }, delaySeconds: 120 }]);
    // The message sent anew keeps growing its delay.
    await quietly(async () => {
      await recordQueuedRegistrations([delivery(1, sent[0]!.body).message], new UserRegistry(brokenDb), queue);
    });
    expect(retried.at(-1)).toBe(240);
  });

  it('retries the batch while D1 is still down', async () => {
    const good = message({ kind: 'register', uids: [{ uid: 'bob', tenant: '', at: 3 }] });
    const log = captureConsole();
    try {
      await recordQueuedRegistrations([good.message], new UserRegistry(brokenDb));
    } finally {
      log.restore();
    }
    expect(good.outcome).toEqual({ acked: false, retried: true });
  });
});

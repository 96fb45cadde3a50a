import { beforeEach, describe, expect, it } from 'vitest';
import { MEMORY_TTL_MS, NearRegistry } from '../../src/registry/near-registry';
import { UserRegistry } from '../../src/registry/registry';
import { clearRegistry, DB, register } from '../support/reconcile';

beforeEach(clearRegistry);

/**
 * D1 with a replica that lags: the session's reads do not see the uids in
 * `behind` (written on the primary after the replica's last update). Counts
 * statements by where they went.
 */
function laggingDb(behind: Set<string>) {
  const counts = { primary: 0, replica: 0 };
  const db = {
    prepare: (sql: string) => (counts.primary++, DB.prepare(sql)),
    withSession: () => ({
      prepare: (sql: string) => ({
        bind: (uid: string) => ({
          first: async () => {
            counts.replica++;
            if (behind.has(uid)) return { tenant: null, tenant_rows: 0 };
            return DB.prepare(sql).bind(uid).first();
          },
        }),
      }),
    }),
  } as unknown as D1Database;
  return { db, counts };
}

describe('NearRegistry', () => {
  it('answers a returning uid from a replica, then from memory, with no primary statement', async () => {
    await register(['ada'], '');
    const { db, counts } = laggingDb(new Set());
    const near = new NearRegistry(new UserRegistry(db), Date.now);
    expect(await near.find('ada')).toMatchObject({ tenant: '', state: 'active' });
    expect(await near.find('ada')).toMatchObject({ tenant: '', state: 'active' });
    expect(counts).toEqual({ primary: 0, replica: 1 });
    expect(near.tenantRows).toBe(false);
  });

  /** An isolate (its clock at `clock.now`) that read 'ada' as active, after which she was marked missing on the primary. */
  async function readThenMarkedMissing() {
    await register(['ada'], '');
    const clock = { now: 1_000_000 };
    const { db, counts } = laggingDb(new Set());
    const near = new NearRegistry(new UserRegistry(db), () => clock.now);
    await near.find('ada');
    await new UserRegistry(DB).markMissing(['ada']);
    return { near, counts, clock };
  }

  it('forgets what it read after a few minutes, so a deletion reaches every isolate', async () => {
    const { near, counts, clock } = await readThenMarkedMissing();
    clock.now += MEMORY_TTL_MS - 1;
    expect((await near.find('ada'))?.state).toBe('active');
    clock.now += 2;
    expect((await near.find('ada'))?.state).toBe('pending_delete');
    expect(counts.replica).toBe(2);
  });

  it('what the isolate writes itself (a profile hash, evidence of life) never extends how long a read is trusted', async () => {
    const { near, counts, clock } = await readThenMarkedMissing();
    clock.now += MEMORY_TTL_MS - 10;
    const now = clock.now;
    near.amend('ada', (entry) => ({ ...entry, written: { hash: 'h', at: now } }));
    expect(near.remembered('ada')?.written).toEqual({ hash: 'h', at: now });
    clock.now += 20;
    expect(near.remembered('ada')).toBeUndefined();
    expect((await near.find('ada'))?.state).toBe('pending_delete');
    expect(counts.replica).toBe(2);
    near.amend('nobody', (entry) => entry);
    expect(near.remembered('nobody')).toBeUndefined();
  });

  it('a lagging replica can only miss a row: the miss goes to the primary, whose row keeps its first tenant', async () => {
    await register(['ada'], 'tenant-a'); // on the primary; the replica has not seen it yet
    const { db, counts } = laggingDb(new Set(['ada']));
    const near = new NearRegistry(new UserRegistry(db), Date.now);
    expect(await near.find('ada')).toBeUndefined();
    expect(await near.register('ada', '')).toMatchObject({ tenant: 'tenant-a' }); // never the caller's tenant
    expect(near.tenantRows).toBe(true);
    expect(counts).toEqual({ primary: 1, replica: 1 });
  });

  it('once it knows tenant-bound rows exist, a lagging replica cannot make it forget', async () => {
    await register(['bound'], 'tenant-a');
    const { db } = laggingDb(new Set(['bound']));
    const near = new NearRegistry(new UserRegistry(db), Date.now);
    await near.register('bound', 'tenant-a'); // from the primary: a tenant-bound row
    expect(near.tenantRows).toBe(true);
    const stale = {
      withSession: () => ({ prepare: () => ({ bind: () => ({ first: async () => ({ tenant: null, tenant_rows: 0 }) }) }) }),
    } as unknown as D1Database;
    const lagging = new NearRegistry(new UserRegistry(stale), Date.now);
    await lagging.find('x');
    expect(lagging.tenantRows).toBe(false);
    // The same instance: learnt "yes", then a replica that lags says "no".
    const both = { ...stale, prepare: (sql: string) => DB.prepare(sql) } as unknown as D1Database;
    const sticky = new NearRegistry(new UserRegistry(both), Date.now);
    await sticky.register('bound', 'tenant-a');
    await sticky.find('y');
    expect(sticky.tenantRows).toBe(true);
  });

  it("an import under a tenant has told the data centre's copy by the time it answers", async () => {
    const puts: boolean[] = [];
    const shared = {
      get: async () => undefined,
      put: async (value: boolean) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        puts.push(value);
      },
    };
    const registry = new UserRegistry(DB);
    const near = new NearRegistry(registry, Date.now, shared);
    await registry.importUids(['plain']);
    expect(puts).toEqual([]);
    await registry.importUids(['bound'], 'tenant-a');
    expect(puts).toEqual([true]);
    expect(near.tenantRows).toBe(true);
  });

  it('prefetch starts the near read once, and find takes its answer instead of reading again', async () => {
    await register(['ada'], '');
    const { db, counts } = laggingDb(new Set());
    const near = new NearRegistry(new UserRegistry(db), Date.now);
    near.prefetch('ada');
    near.prefetch('ada');
    expect(counts.replica).toBe(1);
    expect(await near.find('ada')).toMatchObject({ state: 'active' });
    expect(counts.replica).toBe(1);
  });

  it('a prefetched read that failed is read again by find', async () => {
    let fail = true;
    const db = {
      withSession: () => ({
        prepare: (sql: string) => ({
          bind: (uid: string) => ({
            first: () => (fail ? Promise.reject(new Error('D1_ERROR: down')) : DB.prepare(sql).bind(uid).first()),
          }),
        }),
      }),
    } as unknown as D1Database;
    const near = new NearRegistry(new UserRegistry(db), Date.now);
    near.prefetch('ada');
    await new Promise((resolve) => setTimeout(resolve, 1));
    fail = false;
    expect(await near.find('ada')).toBeUndefined();
    expect(near.tenantRows).toBe(false);
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import { UserRegistry } from '../../src/registry/registry';
import { captureConsole } from '../support/console';
import { clearRegistry, DB, register, registryRows } from '../support/reconcile';

beforeEach(clearRegistry);

/** Collects what the registry hands to waitUntil, so the test can await it like the runtime would. */
function background() {
  const pending: Promise<unknown>[] = [];
  return { waitUntil: (promise: Promise<unknown>) => void pending.push(promise), settle: () => Promise.all(pending), pending };
}

/** A D1 stand-in whose every statement fails, as when storage is unavailable. */
const brokenDb = {
  prepare: () => ({ bind: () => ({ run: () => Promise.reject(new Error('D1_ERROR: storage unavailable')) }) }),
} as unknown as D1Database;

describe('UserRegistry', () => {
  it('remember records a uid in the background, once per isolate', async () => {
    const registry = new UserRegistry(DB);
    const bg = background();
    registry.remember('ada', bg.waitUntil);
    registry.remember('ada', bg.waitUntil);
    expect(bg.pending).toHaveLength(1);
    await bg.settle();
    expect((await registryRows()).get('ada')).toMatchObject({ state: 'active', last_checked_at: null });
  });

  it('remember never throws when storage fails, logs it, and tries again on the next request', async () => {
    const registry = new UserRegistry(brokenDb);
    const bg = background();
    const log = captureConsole();
    try {
      registry.remember('ada', bg.waitUntil);
      await bg.settle();
      registry.remember('ada', bg.waitUntil);
      await bg.settle();
    } finally {
      log.restore();
    }
    expect(bg.pending).toHaveLength(2);
    expect(log.lines.filter((line) => line.includes('registry_write_failed'))).toHaveLength(2);
  });

  it('recordNow waits for the write and skips uids Stream cannot use', async () => {
    const registry = new UserRegistry(DB);
    await registry.recordNow('ada');
    await registry.recordNow('has space');
    expect([...(await registryRows()).keys()]).toEqual(['ada']);
  });

  it('importUids adds new uids and answers how many were new', async () => {
    const registry = new UserRegistry(DB);
    expect(await registry.importUids(['a', 'b'])).toBe(2);
    expect(await registry.importUids(['b', 'c'])).toBe(1);
    expect([...(await registryRows()).keys()].sort()).toEqual(['a', 'b', 'c']);
  });

  it('due: pending deletions first, then never checked, then checked longest ago; skips what this run checked', async () => {
    let now = 1_000;
    const registry = new UserRegistry(DB, () => now);
    await register(['old', 'older', 'fresh', 'pending', 'gone']);
    now = 2_000;
    await registry.markPresent(['older']);
    now = 3_000;
    await registry.markPresent(['old']);
    await registry.markDeleteFailed('pending', 'Stream said 500');
    await registry.markDeleted('gone', 'cron:soft');
    expect(await registry.due(10, 2_500)).toEqual(['fresh', 'older']);
    expect(await registry.due(10, 10_000)).toEqual(['pending', 'fresh', 'older', 'old']);
    expect(await registry.due(2, 10_000)).toEqual(['pending', 'fresh']);
  });

  it('records each outcome: present, deleted, failed', async () => {
    const registry = new UserRegistry(DB, () => 5_000);
    await register(['here', 'gone', 'stuck']);
    await registry.markPresent(['here']);
    await registry.markDeleted('gone', 'admin:hard');
    await registry.markDeleteFailed('stuck', 'x'.repeat(600));
    await registry.markDeleteFailed('stuck', 'again');
    const rows = await registryRows();
    expect(rows.get('here')).toMatchObject({ state: 'active', last_checked_at: 5_000 });
    expect(rows.get('gone')).toMatchObject({ state: 'deleted', deleted_how: 'admin:hard' });
    expect(rows.get('stuck')).toMatchObject({ state: 'pending_delete', failures: 2 });
    expect(await registry.lookup(['here', 'gone', 'stuck', 'stranger'])).toEqual(
      new Map([
        ['here', 'active'],
        ['gone', 'deleted'],
        ['stuck', 'pending_delete'],
      ]),
    );
    // A uid marked deleted is never marked present again.
    await registry.markPresent(['gone']);
    expect((await registryRows()).get('gone')?.state).toBe('deleted');
  });
});

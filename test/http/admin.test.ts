import { beforeEach, describe, expect, it } from 'vitest';
import { callWorker, Scenario } from '../support/fixtures';
import { clearRegistry, productionEnv, register, registerAlive, registryRows, runCron, streamDeletes } from '../support/reconcile';
import { expectLogged } from '../support/console';

// These tests use the D1 registry, so they run one after another and each starts empty.
beforeEach(clearRegistry);

describe('admin routes', () => {
  const ADMIN_TOKEN = 'a'.repeat(40);
  const post = (env: Parameters<typeof callWorker>[0], path: string, body: unknown, token: string | null = ADMIN_TOKEN) =>
    callWorker(env, path, {
      headers: { 'Content-Type': 'application/json', ...(token === null ? {} : { Authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    });

  it('are absent (404) without ADMIN_TOKEN, and refuse a missing or wrong token with 401', async () => {
    const scenario = await Scenario.create();
    // Off: absent, like any unknown path, whatever the method.
    for (const path of ['/v1/admin/users/delete', '/v1/admin/registry/import', '/v1/admin/reconcile/status', '/v1/admin/reconcile/run']) {
      const off = await post(await productionEnv(scenario), path, { uids: ['x'] });
      expect(off.status, path).toBe(404);
      expect(await off.json()).toMatchObject({ code: 'not_found' });
    }
    const env = await productionEnv(scenario, { ADMIN_TOKEN });
    expect((await post(env, '/v1/admin/users/delete', { uids: ['x'] }, null)).status).toBe(401);
    const wrong = await post(env, '/v1/admin/users/delete', { uids: ['x'] }, 'b'.repeat(40));
    expect(wrong.status).toBe(401);
    const text = await wrong.text();
    expect(text).not.toContain(ADMIN_TOKEN);
    // Titled as what it is: the admin token, not an ID token to go and refresh.
    expect(JSON.parse(text)).toMatchObject({ title: 'Invalid admin token', code: 'invalid_admin_token', status: 401 });
    expect(text).not.toMatch(/ID token/);
    expect(await streamDeletes(scenario)).toEqual([]);
  });

  it('POST /v1/admin/reconcile/run runs the cron now and answers its summary; only with the token', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { ADMIN_TOKEN });
    await registerAlive(['stays']);
    await register(['gone']);
    await scenario.seedStreamUsers([{ id: 'gone' }]);
    await scenario.setGoogleAdmin({ existing: ['stays'] });
    expect((await post(env, '/v1/admin/reconcile/run', {}, null)).status).toBe(401);
    expect(await streamDeletes(scenario)).toEqual([]);
    const run = await post(env, '/v1/admin/reconcile/run', {});
    expect(run.status).toBe(200);
    expect(await run.json()).toMatchObject({ mode: 'inline', checked: 2, deleted: 1 });
    expect(await streamDeletes(scenario)).toEqual(['gone']);
    expectLogged('reconcile_summary');
  });

  it('refuse an ADMIN_TOKEN too short to be safe, naming the setting', async () => {
    const scenario = await Scenario.create();
    const health = await callWorker(await productionEnv(scenario, { ADMIN_TOKEN: 'short' }), '/healthz', { method: 'GET' });
    expect(await health.json()).toEqual({ status: 'misconfigured', settings: ['ADMIN_TOKEN'] });
    expectLogged('invalid_config');
  });

  it('delete only registered uids that Firebase confirms are gone', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { ADMIN_TOKEN });
    await register(['gone-1', 'still-here']);
    await scenario.seedStreamUsers([{ id: 'gone-1' }, { id: 'still-here' }, { id: 'stranger' }]);
    await scenario.setGoogleAdmin({ existing: ['still-here'] });

    const response = await post(env, '/v1/admin/users/delete', { uids: ['gone-1', 'still-here', 'stranger'] });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ results: { 'gone-1': 'deleted', 'still-here': 'present', stranger: 'not_registered' } });
    expect(await streamDeletes(scenario)).toEqual(['gone-1']);
    expect((await registryRows()).get('gone-1')).toMatchObject({ state: 'deleted', deleted_how: 'admin:soft' });

    const again = await post(env, '/v1/admin/users/delete', { uids: ['gone-1'] });
    expect(await again.json()).toEqual({ results: { 'gone-1': 'already_deleted' } });
  });

  it('delete every uid Firebase confirms gone, however many, when it sees a user known to exist', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { ADMIN_TOKEN });
    const gone = Array.from({ length: 40 }, (_, i) => `gone-${i}`);
    await register(gone);
    await registerAlive(['regular']);
    await scenario.seedStreamUsers(gone.map((id) => ({ id })));
    await scenario.setGoogleAdmin({ existing: ['regular'] });

    const response = await post(env, '/v1/admin/users/delete', { uids: gone });
    expect(response.status).toBe(200);
    const { results } = (await response.json()) as { results: Record<string, string> };
    expect(Object.values(results)).toEqual(gone.map(() => 'deleted'));
    expect((await streamDeletes(scenario)).sort()).toEqual([...gone].sort());
  });

  it('delete nothing when Firebase sees none of the users known to exist (a wrong configuration)', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { ADMIN_TOKEN });
    await register(['gone-1', 'gone-2']);
    await registerAlive(['regular']);
    await scenario.setGoogleAdmin({ existing: [] });
    const response = await post(env, '/v1/admin/users/delete', { uids: ['gone-1', 'gone-2'] });
    expect(await response.json()).toEqual({ results: { 'gone-1': 'unconfirmed', 'gone-2': 'unconfirmed' } });
    expect(await streamDeletes(scenario)).toEqual([]);
    expect((await registryRows()).get('gone-1')?.state).toBe('active');
    expectLogged('reconcile_brake');
  });

  it('reconcile status: counts, oldest pending with their error, last run and sweep progress', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { ADMIN_TOKEN, RECONCILE_BATCH_SIZE: '2', RECONCILE_MAX_BATCHES: '1' });
    await register(['a', 'b', 'c', 'd']);
    await scenario.setGoogleAdmin({ existing: ['b', 'c', 'd'] });
    await scenario.scriptStream([{ method: 'POST', status: 403, body: { code: 17, message: 'not allowed' } }]);
    await runCron(env);
    const response = await callWorker(env, '/v1/admin/reconcile/status', {
      method: 'GET',
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(response.status).toBe(200);
    const status = (await response.json()) as Record<string, any>;
    expect(status.mode).toBe('inline');
    expect(status.registry).toEqual({ active: 3, pending_delete: 1, deleted: 0 });
    expect(status.oldest_pending).toMatchObject([{ uid: 'a', failures: 1, last_error: expect.stringContaining('403') }]);
    expect(status.last_run).toMatchObject({ checked: 2, missing: 1, failed: 1 });
    expect(status.sweep).toMatchObject({ position: 'b', done: 2, total: 4, sweeps_completed: 0 });
    expect(Date.parse(status.sweep.projected_completion)).toBeGreaterThan(0);
    expect((await callWorker(env, '/v1/admin/reconcile/status', { method: 'GET' })).status).toBe(401);
  });

  it('delete nothing when Firebase cannot answer', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { ADMIN_TOKEN });
    await register(['gone-1']);
    await scenario.setGoogleAdmin({ existing: [], lookupMode: 'error500' });
    const response = await post(env, '/v1/admin/users/delete', { uids: ['gone-1'] });
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ code: 'firebase_failed' });
    expect(await streamDeletes(scenario)).toEqual([]);
    expectLogged('request_failed');
  });

  it('import registers uids once and validates the body', async () => {
    const scenario = await Scenario.create();
    const env = await productionEnv(scenario, { ADMIN_TOKEN });
    const first = await post(env, '/v1/admin/registry/import', { uids: ['u1', 'u2', 'u2'] });
    expect(await first.json()).toEqual({ received: 2, added: 2 });
    const second = await post(env, '/v1/admin/registry/import', { uids: ['u2', 'u3'] });
    expect(await second.json()).toEqual({ received: 2, added: 1 });
    expect([...(await registryRows()).keys()].sort()).toEqual(['u1', 'u2', 'u3']);

    const badTenants = [
      { uids: ['u4'], tenant: 'a'.repeat(129) },
      { uids: ['u4'], tenant: 'a_b' },
      { uids: ['u4'], tenant: 7 },
    ];
    for (const bad of [{}, { uids: [] }, { uids: 'u1' }, { uids: [1] }, { uids: ['has space'] }, ...badTenants]) {
      const response = await post(env, '/v1/admin/registry/import', bad);
      expect(response.status, JSON.stringify(bad)).toBe(400);
    }
    // '' is the project (no tenant), as when "tenant" is left out; a tenant id of 128 characters is one.
    expect(await (await post(env, '/v1/admin/registry/import', { uids: ['u4'], tenant: '' })).json()).toEqual({ received: 1, added: 1 });
    expect(await (await post(env, '/v1/admin/registry/import', { uids: ['u5'], tenant: 'a'.repeat(128) })).json()).toEqual({
      received: 1,
      added: 1,
    });
  });
});

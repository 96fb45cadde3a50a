/**
 * GET /v1/admin/doctor (src/doctor.ts), through the Worker: healthy, then each check failing in turn,
 * and never a secret in the answer.
 */
import { env as baseEnv } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../src/registry/migrations';
import { callWorker, makeSigningKey, Scenario } from './support/fixtures';
import { clearRegistry, DB, productionEnv, register, runCron } from './support/reconcile';
import { expectLogged } from './support/console';

beforeEach(clearRegistry);

const ADMIN_TOKEN = 'd'.repeat(40);
type Report = { ok: boolean; checks: { name: string; status: 'ok' | 'warn' | 'fail'; detail: string }[] };

async function doctor(env: Parameters<typeof callWorker>[0]): Promise<{ report: Report; text: string; status: number }> {
  const response = await callWorker(env, '/v1/admin/doctor', { method: 'GET', headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  const text = await response.text();
  return { report: JSON.parse(text) as Report, text, status: response.status };
}
const check = (report: Report, name: string) => report.checks.find((c) => c.name === name)!;

async function healthyEnv(scenario: Scenario, overrides: Record<string, unknown> = {}) {
  await scenario.setGoogle({ keys: [await makeSigningKey()] });
  await scenario.setGoogleAdmin({ existing: [] });
  return productionEnv(scenario, {
    ADMIN_TOKEN,
    SIGNUP_BATCHER: baseEnv.SIGNUP_BATCHER,
    STREAM_WRITE_LIMITER: baseEnv.STREAM_WRITE_LIMITER,
    STREAM_WRITE_IP_LIMITER: baseEnv.STREAM_WRITE_IP_LIMITER,
    CORS_ALLOWED_ORIGINS: 'https://app.example.com',
    ...overrides,
  });
}

describe('the doctor', () => {
  it('is absent (404) without ADMIN_TOKEN and needs the token', async () => {
    const scenario = await Scenario.create();
    expect((await callWorker(scenario.env(), '/v1/admin/doctor', { method: 'GET' })).status).toBe(404);
    expect((await callWorker(await healthyEnv(scenario), '/v1/admin/doctor', { method: 'GET' })).status).toBe(401);
  });

  it('healthy: every check ok, in the documented shape, and no secret in the answer', async () => {
    const scenario = await Scenario.create();
    const env = await healthyEnv(scenario);
    const { report, text, status } = await doctor(env);
    expect(status).toBe(200);
    expect(report.checks.map((c) => c.name)).toEqual([
      'settings',
      'cors',
      'stream_credentials',
      'clock_skew',
      'firebase_admin',
      'd1_migrations',
      'd1_replication',
      'bindings',
      'google_keys',
      'reconcile',
      'deletion_events',
    ]);
    expect(report.checks.filter((c) => c.status !== 'ok')).toEqual([]);
    expect(report.ok).toBe(true);
    for (const secret of [scenario.streamSecret, ADMIN_TOKEN, JSON.parse(env.GOOGLE_SERVICE_ACCOUNT!).private_key as string])
      expect(text).not.toContain(secret);
    expect(text).not.toMatch(/eyJ[\w-]+\./);
  });

  it('d1_replication reports where a session read was served: a replica ok, the primary a warning with the fix, local D1 neither', async () => {
    const scenario = await Scenario.create();
    const servedBy = (meta: Record<string, unknown>) =>
      ({
        ...DB,
        prepare: DB.prepare.bind(DB),
        batch: DB.batch.bind(DB),
        withSession: () => ({ prepare: () => ({ all: async () => ({ results: [], success: true, meta }) }) }),
      }) as unknown as D1Database;
    const replica = await doctor(
      await healthyEnv(scenario, { DB: servedBy({ served_by_primary: false, served_by_region: 'WEUR', served_by_colo: 'AMS' }) }),
    );
    expect(check(replica.report, 'd1_replication')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('read replica in WEUR'),
    });
    const primary = await doctor(await healthyEnv(scenario, { DB: servedBy({ served_by_primary: true, served_by_region: 'ENAM' }) }));
    expect(check(primary.report, 'd1_replication')).toMatchObject({ status: 'warn', detail: expect.stringContaining('Read replication') });
    const local = await doctor(await healthyEnv(scenario));
    expect(check(local.report, 'd1_replication')).toMatchObject({ status: 'ok', detail: expect.stringContaining('local D1') });
  });

  it("deletion events: ok when off or when the settings agree; misconfigured without D1; fails without Google's OIDC keys; warns on an audience of another path", async () => {
    const scenario = await Scenario.create();
    const oidc = await Scenario.create();
    await oidc.setGoogle({ keys: [await makeSigningKey()] });
    const on = { DELETION_EVENTS_SERVICE_ACCOUNT: 'push@demo-test-project.iam.gserviceaccount.com', GOOGLE_OIDC_JWKS_URL: oidc.jwksUrl };
    const audience = 'https://tokens.example.com/v1/events/user-deleted';
    expect(check((await doctor(await healthyEnv(scenario))).report, 'deletion_events')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('off'),
    });
    expect(
      check((await doctor(await healthyEnv(scenario, { ...on, DELETION_EVENTS_AUDIENCE: audience }))).report, 'deletion_events').status,
    ).toBe('ok');
    const otherPath = check(
      (await doctor(await healthyEnv(scenario, { ...on, DELETION_EVENTS_AUDIENCE: 'https://tokens.example.com/' }))).report,
      'deletion_events',
    );
    expect(otherPath).toMatchObject({ status: 'warn', detail: expect.stringContaining('--push-auth-token-audience') });
    // Without D1 the route could only refuse every push: a configuration error, named by /healthz.
    const noDb = await callWorker(await healthyEnv(scenario, { ...on, DELETION_EVENTS_AUDIENCE: audience, DB: undefined }), '/healthz');
    expect([noDb.status, await noDb.json()]).toEqual([503, { status: 'misconfigured', settings: ['DELETION_EVENTS_AUDIENCE'] }]);
    expectLogged('invalid_config');
    const down = await Scenario.create();
    await down.setGoogle({ down: true });
    const noKeys = await doctor(
      await healthyEnv(scenario, { ...on, DELETION_EVENTS_AUDIENCE: audience, GOOGLE_OIDC_JWKS_URL: down.jwksUrl }),
    );
    expect(check(noKeys.report, 'deletion_events')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('GOOGLE_OIDC_JWKS_URL'),
    });
    expectLogged('google_keys_fetch_failed');
  });

  it('a setting that was ignored: settings warns and says which', async () => {
    const scenario = await Scenario.create();
    const { report, text } = await doctor(await healthyEnv(scenario, { FIREBASE_AUTH_EMULATOR_HOST: 'emulator.example.com:9099' }));
    expect(check(report, 'settings')).toMatchObject({ status: 'warn', detail: expect.stringContaining('FIREBASE_AUTH_EMULATOR_HOST') });
    expect(text).not.toContain(scenario.streamSecret);
    expectLogged('emulator_mode_refused');
  });

  it('no CORS_ALLOWED_ORIGINS: cors warns and names the setting (web pages cannot call the Worker); the report stays ok', async () => {
    const scenario = await Scenario.create();
    const { report } = await doctor(await healthyEnv(scenario, { CORS_ALLOWED_ORIGINS: '' }));
    expect(check(report, 'cors')).toMatchObject({ status: 'warn', detail: expect.stringContaining('CORS_ALLOWED_ORIGINS is empty') });
    expect(report.ok).toBe(true);
  });

  it('the emulator host without ALLOW_AUTH_EMULATOR: settings warns that emulator mode is off', async () => {
    const scenario = await Scenario.create();
    const { report } = await doctor(
      await healthyEnv(scenario, { FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099', ALLOW_AUTH_EMULATOR: undefined }),
    );
    expect(check(report, 'settings')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/without ALLOW_AUTH_EMULATOR = "true"; emulator mode is OFF/),
    });
    expectLogged('emulator_mode_refused');
  });

  it('a wrong Stream secret: stream_credentials fails and names the setting', async () => {
    const scenario = await Scenario.create();
    const { report } = await doctor(await healthyEnv(scenario, { STREAM_API_SECRET: 'not-the-app-secret' }));
    expect(check(report, 'stream_credentials')).toMatchObject({ status: 'fail', detail: expect.stringContaining('STREAM_API_SECRET') });
    expect(report.ok).toBe(false);
  });

  it('Firebase admin access failing: firebase_admin fails', async () => {
    const scenario = await Scenario.create();
    const env = await healthyEnv(scenario);
    await scenario.setGoogleAdmin({ lookupMode: 'error500' });
    const { report } = await doctor(env);
    expect(check(report, 'firebase_admin')).toMatchObject({ status: 'fail', detail: expect.stringContaining('GOOGLE_SERVICE_ACCOUNT') });
    expect(report.ok).toBe(false);
  });

  it('no D1 database: d1_migrations and bindings fail; a database missing a migration: d1_migrations fails', async () => {
    const scenario = await Scenario.create();
    const { report } = await doctor(await healthyEnv(scenario, { DB: undefined }));
    expect(check(report, 'd1_migrations').status).toBe('fail');
    expect(check(report, 'bindings')).toMatchObject({ status: 'fail', detail: expect.stringContaining('DB missing') });

    const last = MIGRATIONS[MIGRATIONS.length - 1]!;
    const row = await DB.prepare('SELECT * FROM d1_migrations WHERE name = ?1').bind(last).first();
    await DB.prepare('DELETE FROM d1_migrations WHERE name = ?1').bind(last).run();
    try {
      const missing = await doctor(await healthyEnv(scenario));
      expect(check(missing.report, 'd1_migrations')).toMatchObject({ status: 'fail', detail: expect.stringContaining(last) });
    } finally {
      const columns = Object.keys(row ?? {});
      await DB.prepare(`INSERT INTO d1_migrations (${columns.join(', ')}) VALUES (${columns.map((_, i) => `?${i + 1}`).join(', ')})`)
        .bind(...Object.values(row ?? {}))
        .run();
    }
  });

  it('bindings missing: warns and names them', async () => {
    const scenario = await Scenario.create();
    const { report } = await doctor(await healthyEnv(scenario, { SIGNUP_BATCHER: undefined, STREAM_WRITE_IP_LIMITER: undefined }));
    expect(check(report, 'bindings')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/SIGNUP_BATCHER missing.*STREAM_WRITE_IP_LIMITER missing/),
    });
    expect(report.ok).toBe(true);
  });

  it('Google keys unavailable: google_keys fails', async () => {
    const scenario = await Scenario.create();
    const env = await healthyEnv(scenario);
    await scenario.setGoogle({ down: true });
    const { report } = await doctor(env);
    expect(check(report, 'google_keys')).toMatchObject({ status: 'fail', detail: expect.stringContaining('FIREBASE_JWKS_URL') });
    expectLogged('google_keys_fetch_failed');
  });

  it("a clock more than 30 s off Stream's: clock_skew warns", async () => {
    const scenario = await Scenario.create();
    const env = await healthyEnv(scenario);
    await scenario.scriptStream([
      { method: 'GET', status: 200, body: { app: {} }, headers: { Date: new Date(Date.now() - 120_000).toUTCString() } },
    ]);
    const { report } = await doctor(env);
    expect(check(report, 'clock_skew')).toMatchObject({ status: 'warn' });
  });

  it('the brake held on the last run: reconcile warns and says what to check', async () => {
    const scenario = await Scenario.create();
    const env = await healthyEnv(scenario);
    await register(['lonely']); // everyone looks gone, and nobody is known to exist: the brake holds
    await runCron(env);
    const { report } = await doctor(env);
    expect(check(report, 'reconcile')).toMatchObject({ status: 'warn', detail: expect.stringContaining('FIREBASE_PROJECT_ID') });
  });
});

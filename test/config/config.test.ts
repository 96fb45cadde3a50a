import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/config';
import type { Env } from '../../src/env';

/** A D1 binding, as far as the configuration looks: present. */
const aDatabase = {} as D1Database;
const valid: Env = { FIREBASE_PROJECT_ID: 'example-project', STREAM_API_KEY: 'abc123', STREAM_API_SECRET: 'super-secret-value' };

/** The development-only switch emulator mode needs besides FIREBASE_AUTH_EMULATOR_HOST. */
const allowed: Env = { ALLOW_AUTH_EMULATOR: 'true' };

function problemsOf(env: Env): { settings: string[]; message: string } {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return { settings: error.settings, message: error.message };
    throw error;
  }
  return { settings: [], message: '' };
}

describe('parseConfig', () => {
  it('deletion events: off by default; on with an audience and its service account, keys from Google unless told otherwise', () => {
    expect(parseConfig(valid).deletionEvents).toBeUndefined();
    const on = {
      ...valid,
      FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099',
      ALLOW_AUTH_EMULATOR: 'true',
      DELETION_EVENTS_AUDIENCE: 'https://t.example.com/v1/events/user-deleted',
      DELETION_EVENTS_SERVICE_ACCOUNT: 'push@p.iam.gserviceaccount.com',
      DB: aDatabase,
    };
    expect(parseConfig(on).deletionEvents).toEqual({
      audience: on.DELETION_EVENTS_AUDIENCE,
      serviceAccount: on.DELETION_EVENTS_SERVICE_ACCOUNT,
      jwksUrl: 'https://www.googleapis.com/oauth2/v3/certs',
    });
    expect(parseConfig({ ...on, GOOGLE_OIDC_JWKS_URL: 'http://127.0.0.1:9/certs' }).deletionEvents?.jwksUrl).toBe(
      'http://127.0.0.1:9/certs',
    );
  });

  it('fills the documented defaults', () => {
    const config = parseConfig(valid);
    expect(config).toMatchObject({
      firebaseIssuer: 'https://securetoken.google.com/example-project',
      streamBaseUrl: 'https://chat.stream-io-api.com',
      firebaseJwksUrl: 'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com',
      streamTokenTtlSeconds: 3600,
      streamProfileCacheSeconds: 3600,
      cors: { kind: 'none' },
      firebaseAuthEmulatorHost: undefined,
      serviceAccount: undefined,
      adminToken: undefined,
      reconcile: {
        batchSize: 100,
        maxBatches: 10,
        maxDeletes: 50,
        dryRun: false,
        deleteIntervalMs: 500,
        maxMissingPercent: 50,
        taskWaitMs: 2000,
        queueBatchesPerRun: 2500,
      },
    });
    expect([...config.streamUserFields]).toEqual(['name', 'image']);
    expect([...config.tenants]).toEqual([]);
    expect(config.reconcile.deleteMode).toEqual({ label: 'soft', options: { user: 'soft' } });
  });

  it('names every missing required setting at once', () => {
    expect(problemsOf({}).settings).toEqual(['FIREBASE_PROJECT_ID', 'STREAM_API_KEY', 'STREAM_API_SECRET']);
    expect(problemsOf({ ...valid, STREAM_API_SECRET: '   ' }).settings).toEqual(['STREAM_API_SECRET']);
  });

  it.each<[string, Partial<Env>]>([
    ['FIREBASE_PROJECT_ID', { FIREBASE_PROJECT_ID: 'Not A Project' }],
    ['STREAM_API_KEY', { STREAM_API_KEY: 'has spaces' }],
    ['STREAM_BASE_URL', { STREAM_BASE_URL: 'ftp://example.com' }],
    ['FIREBASE_JWKS_URL', { FIREBASE_JWKS_URL: 'not a url' }],
    ['STREAM_TOKEN_TTL_SECONDS', { STREAM_TOKEN_TTL_SECONDS: '-5' }],
    ['STREAM_TOKEN_TTL_SECONDS', { STREAM_TOKEN_TTL_SECONDS: '1h' }],
    ['STREAM_USER_FIELDS', { STREAM_USER_FIELDS: 'name,role' }],
    ['STREAM_PROFILE_CACHE_SECONDS', { STREAM_PROFILE_CACHE_SECONDS: 'forever' }],
    ['CORS_ALLOWED_ORIGINS', { CORS_ALLOWED_ORIGINS: 'https://app.example.com/path' }],
    ['CORS_ALLOWED_ORIGINS', { CORS_ALLOWED_ORIGINS: '*, https://a.example' }],
    ['GOOGLE_SERVICE_ACCOUNT', { GOOGLE_SERVICE_ACCOUNT: '{"client_email":"x"}' }],
    ['GOOGLE_SERVICE_ACCOUNT', { GOOGLE_SERVICE_ACCOUNT: 'not json' }],
    ['STREAM_DELETE_MODE', { STREAM_DELETE_MODE: 'obliterate' }],
    ['STREAM_DELETE_MODE', { STREAM_DELETE_MODE: 'hard,everything' }],
    ['RECONCILE_DRY_RUN', { RECONCILE_DRY_RUN: 'maybe' }],
    ['RECONCILE_BATCH_SIZE', { RECONCILE_BATCH_SIZE: '101' }],
    ['RECONCILE_MAX_BATCHES', { RECONCILE_MAX_BATCHES: '0' }],
    ['RECONCILE_MAX_DELETES', { RECONCILE_MAX_DELETES: 'lots' }],
    ['RECONCILE_DELETE_INTERVAL_MS', { RECONCILE_DELETE_INTERVAL_MS: '-1' }],
    ['RECONCILE_MAX_MISSING_PERCENT', { RECONCILE_MAX_MISSING_PERCENT: '101' }],
    ['ADMIN_TOKEN', { ADMIN_TOKEN: 'too-short' }],
    ['FIREBASE_TENANT_IDS', { FIREBASE_TENANT_IDS: 'ok-tenant, not/a/tenant', DB: aDatabase }],
    // Without a registry nothing binds a uid to its tenant.
    ['FIREBASE_TENANT_IDS', { FIREBASE_TENANT_IDS: 'tenant-a' }],
    ['RECONCILE_TASK_WAIT_MS', { RECONCILE_TASK_WAIT_MS: '60000' }],
    ['RECONCILE_QUEUE_BATCHES_PER_RUN', { RECONCILE_QUEUE_BATCHES_PER_RUN: '0' }],
    // Production URLs cannot leak: https, or http for a loopback host only.
    ['STREAM_BASE_URL', { STREAM_BASE_URL: 'http://chat.stream-io-api.com' }],
    [
      'FIREBASE_JWKS_URL',
      { FIREBASE_JWKS_URL: 'http://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com' },
    ],
    ['FIREBASE_IDENTITY_TOOLKIT_URL', { FIREBASE_IDENTITY_TOOLKIT_URL: 'http://10.0.0.5:8080' }],
    ['APP_CHECK_JWKS_URL', { APP_CHECK: 'monitor', FIREBASE_PROJECT_NUMBER: '123456789', APP_CHECK_JWKS_URL: 'http://evil.example/jwks' }],
    ['GOOGLE_OIDC_JWKS_URL', { GOOGLE_OIDC_JWKS_URL: 'http://www.googleapis.com/oauth2/v3/certs' }],
    // Deletion events: the audience needs its service account, a way to ask Firebase, and vice versa.
    [
      'DELETION_EVENTS_SERVICE_ACCOUNT',
      {
        DELETION_EVENTS_AUDIENCE: 'https://t.example.com/v1/events/user-deleted',
        DB: aDatabase,
        FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099',
        ALLOW_AUTH_EMULATOR: 'true',
      },
    ],
    [
      'DELETION_EVENTS_SERVICE_ACCOUNT',
      {
        DELETION_EVENTS_AUDIENCE: 'https://t.example.com/v1/events/user-deleted',
        DB: aDatabase,
        DELETION_EVENTS_SERVICE_ACCOUNT: 'not-an-email',
        FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099',
        ALLOW_AUTH_EMULATOR: 'true',
      },
    ],
    ['DELETION_EVENTS_SERVICE_ACCOUNT', { DELETION_EVENTS_SERVICE_ACCOUNT: 'push@p.iam.gserviceaccount.com' }],
    [
      'DELETION_EVENTS_AUDIENCE',
      {
        DELETION_EVENTS_AUDIENCE: 'https://t.example.com/v1/events/user-deleted',
        DB: aDatabase,
        DELETION_EVENTS_SERVICE_ACCOUNT: 'push@p.iam.gserviceaccount.com',
      },
    ],
    // Without a registry an event cannot be checked against the uid's tenant or the deletion brake.
    [
      'DELETION_EVENTS_AUDIENCE',
      {
        DELETION_EVENTS_AUDIENCE: 'https://t.example.com/v1/events/user-deleted',
        DELETION_EVENTS_SERVICE_ACCOUNT: 'push@p.iam.gserviceaccount.com',
        FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099',
        ALLOW_AUTH_EMULATOR: 'true',
      },
    ],
    [
      'DELETION_EVENTS_AUDIENCE',
      {
        DELETION_EVENTS_AUDIENCE: 'has a space',
        DB: aDatabase,
        DELETION_EVENTS_SERVICE_ACCOUNT: 'push@p.iam.gserviceaccount.com',
        FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099',
        ALLOW_AUTH_EMULATOR: 'true',
      },
    ],
    [
      'GOOGLE_SERVICE_ACCOUNT',
      {
        GOOGLE_SERVICE_ACCOUNT: JSON.stringify({
          client_email: 'a@demo-test.iam.gserviceaccount.com',
          private_key: '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n',
          token_uri: 'http://oauth2.googleapis.com/token',
        }),
      },
    ],
    [
      'GOOGLE_SERVICE_ACCOUNT',
      {
        GOOGLE_SERVICE_ACCOUNT: JSON.stringify({
          project_id: 'another-project',
          client_email: 'a@another-project.iam.gserviceaccount.com',
          private_key: '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n',
        }),
      },
    ],
  ])('names %s when it is malformed', (setting, override) => {
    const { settings, message } = problemsOf({ ...valid, ...override });
    expect(settings).toEqual([setting]);
    expect(message).toContain(setting);
  });

  it('reports every bad setting in one pass, those a domain parser checks (key file, delete mode) among them', () => {
    const { settings } = problemsOf({
      ...valid,
      STREAM_TOKEN_TTL_SECONDS: 'soon',
      GOOGLE_SERVICE_ACCOUNT: '{not json',
      STREAM_DELETE_MODE: 'obliterate',
      FIREBASE_ANONYMOUS: 'maybe',
      APP_CHECK: 'enforce',
      RECONCILE_BATCH_SIZE: '0',
      ADMIN_TOKEN: 'short',
    });
    expect([...settings].sort()).toEqual(
      [
        'ADMIN_TOKEN',
        'FIREBASE_ANONYMOUS',
        'FIREBASE_PROJECT_NUMBER',
        'GOOGLE_SERVICE_ACCOUNT',
        'RECONCILE_BATCH_SIZE',
        'STREAM_DELETE_MODE',
        'STREAM_TOKEN_TTL_SECONDS',
      ].sort(),
    );
  });

  it('reads a var wrangler.toml gives as a number or a boolean as its text', () => {
    const config = parseConfig({
      ...valid,
      STREAM_TOKEN_TTL_SECONDS: 600 as unknown as string,
      RECONCILE_DRY_RUN: true as unknown as string,
    });
    expect(config.streamTokenTtlSeconds).toBe(600);
    expect(config.reconcile.dryRun).toBe(true);
  });

  it('never echoes a secret value in its message', () => {
    const secretish = 'sk_live_THIS_MUST_NOT_LEAK';
    const { message } = problemsOf({
      ...valid,
      STREAM_USER_FIELDS: 'bad',
      GOOGLE_SERVICE_ACCOUNT: `{"client_email":"a","private_key":"${secretish}"}`,
      ADMIN_TOKEN: 'short-but-secret',
    });
    expect(message).not.toContain(secretish);
    expect(message).not.toContain('short-but-secret');
    expect(message).not.toContain(valid.STREAM_API_SECRET);
  });

  it('parses lists, flags and the delete mode', () => {
    const config = parseConfig({
      ...valid,
      STREAM_USER_FIELDS: ' email , name ',
      CORS_ALLOWED_ORIGINS: 'https://a.example, http://localhost:5173',
      RECONCILE_DRY_RUN: 'TRUE',
      STREAM_DELETE_MODE: 'hard, channels',
      STREAM_TOKEN_TTL_SECONDS: '0',
    });
    expect([...config.streamUserFields]).toEqual(['email', 'name']);
    expect(config.cors).toEqual({ kind: 'list', origins: new Set(['https://a.example', 'http://localhost:5173']) });
    expect(config.reconcile.dryRun).toBe(true);
    // Stream requires a hard user delete to hard-delete messages and conversations too.
    expect(config.reconcile.deleteMode).toEqual({
      label: 'hard,messages,channels',
      options: { user: 'hard', messages: 'hard', conversations: 'hard' },
    });
    expect(parseConfig({ ...valid, STREAM_DELETE_MODE: 'soft,messages' }).reconcile.deleteMode).toEqual({
      label: 'soft,messages',
      options: { user: 'soft', messages: 'soft' },
    });
    expect(parseConfig({ ...valid, STREAM_DELETE_MODE: 'pruning,messages,channels' }).reconcile.deleteMode.options).toEqual({
      user: 'pruning',
      messages: 'pruning',
      conversations: 'soft',
    });
    expect([...parseConfig({ ...valid, FIREBASE_TENANT_IDS: 'tenant-a, tenant-b', DB: aDatabase }).tenants]).toEqual([
      'tenant-a',
      'tenant-b',
    ]);
    expect(config.streamTokenTtlSeconds).toBe(0);
  });

  it('keeps emulator mode off for a non-loopback host or when a service account is set', () => {
    const errors: string[] = [];
    expect(parseConfig({ ...valid, ...allowed, FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099' }).firebaseAuthEmulatorHost).toBe(
      '127.0.0.1:9099',
    );
    const remote = parseConfig({ ...valid, ...allowed, FIREBASE_AUTH_EMULATOR_HOST: 'emulator.example.com:9099' });
    expect(remote.firebaseAuthEmulatorHost).toBeUndefined();
    errors.push(...remote.warnings.map((warning) => JSON.stringify(warning)));
    const key = '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n';
    const withAccount = parseConfig({
      ...valid,
      ...allowed,
      FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099',
      GOOGLE_SERVICE_ACCOUNT: JSON.stringify({ client_email: 'a@b.iam.gserviceaccount.com', private_key: key }),
    });
    expect(withAccount.firebaseAuthEmulatorHost).toBeUndefined();
    expect(withAccount.serviceAccount?.token_uri).toBe('https://oauth2.googleapis.com/token');
    errors.push(...withAccount.warnings.map((warning) => JSON.stringify(warning)));
    // Returned, not logged: parsing is pure; the composition root logs them (test/index.test.ts).
    expect(errors.filter((line) => line.includes('emulator_mode_refused'))).toHaveLength(2);
  });

  it('emulator mode needs ALLOW_AUTH_EMULATOR = "true", exactly: the host alone turns nothing on, and says so', () => {
    const host = { FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099' };
    for (const allow of [undefined, '', 'false']) {
      const config = parseConfig({ ...valid, ...host, ALLOW_AUTH_EMULATOR: allow });
      expect(config.firebaseAuthEmulatorHost, String(allow)).toBeUndefined();
      expect(config.warnings).toEqual([
        { event: 'emulator_mode_refused', reason: expect.stringContaining('without ALLOW_AUTH_EMULATOR = "true"') },
      ]);
    }
    for (const allow of ['TRUE', 'True', '1', 'yes', 'true,', 'on']) {
      expect(problemsOf({ ...valid, ...host, ALLOW_AUTH_EMULATOR: allow }).settings, allow).toEqual(['ALLOW_AUTH_EMULATOR']);
    }
    expect(parseConfig({ ...valid, ...host, ...allowed }).firebaseAuthEmulatorHost).toBe('127.0.0.1:9099');
    // The switch alone, without a host: nothing to turn on, nothing to say.
    expect(parseConfig({ ...valid, ...allowed })).toMatchObject({ firebaseAuthEmulatorHost: undefined, warnings: [] });
  });

  it('refuses anonymous tokens that could never expire nor be revoked: TTL 0 with FIREBASE_ANONYMOUS=token-only', () => {
    expect(problemsOf({ ...valid, STREAM_TOKEN_TTL_SECONDS: '0', FIREBASE_ANONYMOUS: 'token-only' }).settings).toEqual([
      'STREAM_TOKEN_TTL_SECONDS',
      'FIREBASE_ANONYMOUS',
    ]);
    for (const anonymous of ['allow', 'deny'])
      expect(parseConfig({ ...valid, STREAM_TOKEN_TTL_SECONDS: '0', FIREBASE_ANONYMOUS: anonymous }).streamTokenTtlSeconds).toBe(0);
    expect(parseConfig({ ...valid, STREAM_TOKEN_TTL_SECONDS: '1', FIREBASE_ANONYMOUS: 'token-only' }).anonymous).toBe('token-only');
  });

  it("refuses wrangler.toml's placeholders against the real services, and keeps them valid against stand-ins and the emulator", () => {
    const placeholders: Env = { ...valid, FIREBASE_PROJECT_ID: 'demo-stream-token-edge', STREAM_API_KEY: 'localdevkey' };
    const refused = problemsOf(placeholders);
    expect(refused.settings).toEqual(['FIREBASE_PROJECT_ID', 'STREAM_API_KEY']);
    expect(refused.message).toContain('demo-stream-token-edge');
    expect(refused.message).not.toContain('super-secret-value');
    // The defaults spelled out (a trailing slash too) are still the real services.
    expect(problemsOf({ ...placeholders, STREAM_BASE_URL: 'https://chat.stream-io-api.com/' }).settings).toEqual([
      'FIREBASE_PROJECT_ID',
      'STREAM_API_KEY',
    ]);
    // Stand-ins on this machine, as tests and npm start use them.
    expect(() =>
      parseConfig({ ...placeholders, FIREBASE_JWKS_URL: 'http://127.0.0.1:9/jwks', STREAM_BASE_URL: 'http://127.0.0.1:9/stream' }),
    ).not.toThrow();
    // Emulator mode needs no Google keys; the Stream key still goes to the real API.
    expect(problemsOf({ ...placeholders, ...allowed, FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099' }).settings).toEqual(['STREAM_API_KEY']);
    // The host without the switch is not emulator mode: the demo- project is checked against Google's keys.
    expect(
      problemsOf({ ...placeholders, FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099', STREAM_BASE_URL: 'http://127.0.0.1:9' }).settings,
    ).toEqual(['FIREBASE_PROJECT_ID']);
    // A real project id whose name starts like a word is fine; only the demo- prefix is a placeholder.
    expect(() => parseConfig({ ...valid, FIREBASE_PROJECT_ID: 'demonstration-app' })).not.toThrow();
  });
});

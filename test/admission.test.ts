import { beforeEach, describe, expect, it } from 'vitest';
import { Admission, isAnonymous } from '../src/admission';
import type { AnonymousPolicy } from '../src/admission';
import { AppError } from '../src/errors';
import type { FirebaseClaims } from '../src/firebase/verify-id-token';
import { brokenDb, clearRegistry, DB, register, registryRows, tokenRegistry } from './support/reconcile';
import { expectLogged } from './support/console';

function claims(sub: string, firebase: Record<string, unknown> = {}): FirebaseClaims {
  return { sub, aud: 'demo', iss: 'https://securetoken.google.com/demo', iat: 0, exp: 0, firebase } as unknown as FirebaseClaims;
}

function admission(
  options: {
    tenants?: string[];
    anonymous?: AnonymousPolicy;
    db?: D1Database | null;
    registry?: ReturnType<typeof tokenRegistry>;
    limiter?: RateLimit;
    now?: () => number;
  } = {},
): Admission {
  const now = options.now ?? Date.now;
  const registry = options.db === null ? undefined : (options.registry ?? tokenRegistry(options.db ?? DB, now));
  return new Admission({
    policy: { tenants: new Set(options.tenants ?? []), anonymous: options.anonymous ?? 'allow' },
    registry,
    registrationLimiter: options.limiter ? { limiter: options.limiter, periodSeconds: 60 } : undefined,
    now,
  });
}

async function refusal(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    if (error instanceof AppError) return error.code;
    throw error;
  }
  return 'admitted';
}

describe('Admission', () => {
  beforeEach(clearRegistry);

  it('admits a project-level user, and records an unknown uid before answering', async () => {
    expect(await admission().admit(claims('ada'))).toMatchObject({ uid: 'ada', tenant: '' });
    expect((await registryRows()).get('ada')?.tenant).toBe('');
  });

  it('refuses a uid Stream cannot use, a tenant not served, and a malformed tenant claim, before any registry write', async () => {
    expect(await refusal(admission().admit(claims('has space')))).toBe('unsupported_uid');
    expect(await refusal(admission({ tenants: ['blue'] }).admit(claims('ada', { tenant: 'red' })))).toBe('tenant_not_allowed');
    expect(await refusal(admission().admit(claims('ada', { tenant: 42 })))).toBe('invalid_token');
    expect((await registryRows()).size).toBe(0);
  });

  it('binds a uid to the tenant it was registered under, on every route, whatever the tenant list says', async () => {
    await register(['ada'], 'blue');
    expect(await refusal(admission({ tenants: ['blue', 'red'] }).admit(claims('ada', { tenant: 'red' })))).toBe('tenant_mismatch');
    expect(await refusal(admission({ tenants: ['blue'] }).admit(claims('ada')))).toBe('tenant_mismatch');
    expect(await refusal(admission({ tenants: ['blue'] }).admit(claims('ada'), { writes: true }))).toBe('tenant_mismatch');
    expect(await admission({ tenants: ['blue'] }).admit(claims('ada', { tenant: 'blue' }))).toMatchObject({ uid: 'ada', tenant: 'blue' });
  });

  it('answers registry_unavailable, never admits, when the registry cannot say who owns a uid', async () => {
    expect(await refusal(admission({ db: brokenDb }).admit(claims('ada')))).toBe('registry_unavailable');
    expect(await refusal(admission({ db: brokenDb }).admit(claims('ada'), { writes: true }))).toBe('registry_unavailable');
    // Without a registry there is nothing to bind to.
    expect(await admission({ db: null }).admit(claims('ada'))).toMatchObject({ uid: 'ada', tenant: '' });
    expectLogged('registry_read_failed', 'registry_write_failed');
  });

  it('applies FIREBASE_ANONYMOUS: deny refuses on every route, token-only refuses writes only', async () => {
    const anonymous = claims('anon', { sign_in_provider: 'anonymous' });
    expect(isAnonymous(anonymous)).toBe(true);
    expect(isAnonymous(claims('ada', { sign_in_provider: 'password' }))).toBe(false);
    expect(await refusal(admission({ anonymous: 'deny' }).admit(anonymous))).toBe('anonymous_not_allowed');
    const tokenOnly = admission({ anonymous: 'token-only' });
    expect(await tokenOnly.admit(anonymous)).toMatchObject({ uid: 'anon', tenant: '' });
    expect(await refusal(() => tokenOnly.refuseTokenOnly(anonymous))).toBe('anonymous_not_allowed');
    expect(await refusal(() => tokenOnly.refuseTokenOnly(claims('ada')))).toBe('admitted');
  });
});

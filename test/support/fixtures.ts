/**
 * Test-side handles on the local stand-ins (test/node/fixture-server.ts) and
 * helpers to mint Firebase-style ID tokens with a key the test owns.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env as baseEnv } from 'cloudflare:workers';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { inject } from 'vitest';
import type { Env } from '../../src/env';
import worker from '../../src/index';

export const PROJECT_ID = 'demo-test-project';
export const ISSUER = `https://securetoken.google.com/${PROJECT_ID}`;
export const STREAM_API_KEY = 'testapikey';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
}

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function makeSigningKey(kid = `kid-${crypto.randomUUID()}`): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicJwk };
}

export function fixtureOrigin(): string {
  return inject('fixtureOrigin');
}

async function call(path: string, init?: RequestInit): Promise<Response> {
  const response = await fetch(`${fixtureOrigin()}${path}`, init);
  if (!response.ok) throw new Error(`fixture ${path}: HTTP ${response.status} ${await response.text()}`);
  return response;
}

/** One isolated set of stand-ins: a Google key endpoint and a Stream API. */
export class Scenario {
  readonly streamSecret: string;
  constructor(
    readonly id: string,
    streamSecret = `secret-${crypto.randomUUID()}`,
  ) {
    this.streamSecret = streamSecret;
  }

  /** `streamSecret`: the Stream app secret its stand-in checks (default: a fresh random one). */
  static async create(streamSecret?: string): Promise<Scenario> {
    const scenario = new Scenario('', streamSecret);
    const response = await call('/scenarios', { method: 'POST', body: JSON.stringify({ streamSecret: scenario.streamSecret }) });
    (scenario as { id: string }).id = ((await response.json()) as { id: string }).id;
    return scenario;
  }

  get base(): string {
    return `${fixtureOrigin()}/s/${this.id}`;
  }
  get jwksUrl(): string {
    return `${this.base}/jwks`;
  }
  get streamBaseUrl(): string {
    return `${this.base}/stream`;
  }

  /** Google's key endpoint: its keys (or any raw `jwks` body), max-age, and whether it is down or slow. */
  async setGoogle(options: { keys?: SigningKey[]; jwks?: unknown; maxAge?: number; down?: boolean; delayMs?: number }): Promise<void> {
    const body: Record<string, unknown> = { maxAge: options.maxAge, down: options.down, delayMs: options.delayMs };
    if (options.keys) body.jwks = { keys: options.keys.map((k) => k.publicJwk) };
    if (options.jwks !== undefined) body.jwks = options.jwks;
    await call(`/s/${this.id}/jwks`, { method: 'PUT', body: JSON.stringify(body) });
  }

  async keyFetches(): Promise<number> {
    return ((await (await call(`/s/${this.id}/stats`)).json()) as { jwksFetches: number }).jwksFetches;
  }

  async streamRequests(): Promise<RecordedRequest[]> {
    return (await (await call(`/s/${this.id}/stream-control/requests`)).json()) as RecordedRequest[];
  }

  /** Queue answers the Stream stand-in gives before its normal behaviour. */
  async scriptStream(
    responses: { status: number; body?: unknown; rawBody?: string; headers?: Record<string, string>; method?: string; delayMs?: number }[],
  ): Promise<void> {
    await call(`/s/${this.id}/stream-control/script`, { method: 'POST', body: JSON.stringify(responses) });
  }

  async seedStreamUsers(users: Record<string, unknown>[]): Promise<void> {
    await call(`/s/${this.id}/stream-control/users`, { method: 'POST', body: JSON.stringify(users) });
  }

  /** How the Stream stand-in's delete tasks behave: polls answered "running" first, uids they fail. */
  async setStreamTasks(options: { runningPolls?: number; failUids?: string[] }): Promise<void> {
    await call(`/s/${this.id}/stream-control/tasks`, { method: 'PUT', body: JSON.stringify(options) });
  }

  async streamUsers(): Promise<{ users: Record<string, unknown>[]; deleted: string[] }> {
    return (await (await call(`/s/${this.id}/stream-control/users`)).json()) as { users: Record<string, unknown>[]; deleted: string[] };
  }

  /** Google's admin side: the service account's public key, which uids exist, and how lookups behave. */
  async setGoogleAdmin(options: {
    publicJwk?: JWK;
    clientEmail?: string;
    existing?: string[];
    lookupMode?: 'ok' | 'error500' | 'hang' | 'garbage' | 'not-json' | 'no-kind';
  }): Promise<void> {
    await call(`/s/${this.id}/google-admin`, { method: 'PUT', body: JSON.stringify(options) });
  }

  async googleAdminStats(): Promise<{ grants: number; lookups: number; rejectedAssertions: string[] }> {
    return (await (await call(`/s/${this.id}/google-admin`)).json()) as { grants: number; lookups: number; rejectedAssertions: string[] };
  }

  /**
   * Worker bindings pointing at this scenario's stand-ins. A new object, so
   * config and caches are this scenario's own. No D1 registry unless asked
   * for (`DB: env.DB`): only the reconciliation tests share that database.
   */
  env(overrides: Partial<Env> = {}): Env {
    return {
      ...baseEnv,
      DB: undefined,
      RECONCILE_QUEUE: undefined,
      STREAM_WRITE_LIMITER: undefined,
      SIGNUP_BATCHER: undefined,
      FIREBASE_PROJECT_ID: PROJECT_ID,
      STREAM_API_KEY,
      STREAM_API_SECRET: this.streamSecret,
      STREAM_BASE_URL: this.streamBaseUrl,
      FIREBASE_JWKS_URL: this.jwksUrl,
      ...overrides,
    };
  }
}

export interface IdTokenOptions {
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
  /** Unix seconds; defaults to now. */
  iat?: number;
}

/** A Firebase-shaped ID token signed by `key`. */
export async function mintIdToken(key: SigningKey, uid: string, options: IdTokenOptions = {}): Promise<string> {
  const iat = options.iat ?? Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: ISSUER,
    aud: PROJECT_ID,
    auth_time: iat,
    user_id: uid,
    sub: uid,
    iat,
    exp: iat + 3600,
    firebase: { identities: {}, sign_in_provider: 'password' },
    ...options.claims,
  })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...options.header } as { alg: string })
    .sign(key.privateKey);
}

/** Sends a request through the Worker's real entry point with the given bindings. */
export async function callWorker(
  env: Env,
  path: string,
  init: RequestInit & { idToken?: string; origin?: string } = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.idToken !== undefined) headers.set('Authorization', `Bearer ${init.idToken}`);
  const ctx = createExecutionContext();
  const { origin = 'http://localhost', idToken: _idToken, ...requestInit } = init;
  const request = new Request(`${origin}${path}`, { method: 'POST', ...requestInit, headers }) as Request<
    unknown,
    IncomingRequestCfProperties
  >;
  const response = await worker.fetch(request, env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

/** A callable-protocol request, as Firebase's client SDKs send it. */
export function callable(
  env: Env,
  name: string,
  idToken?: string,
  data: unknown = null,
  headers: Record<string, string> = {},
): Promise<Response> {
  return callWorker(env, `/${name}`, {
    idToken,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ data }),
  });
}

/** An ID token as the Firebase Auth emulator mints it: `alg: none`, empty signature. */
export function unsignedIdToken(uid: string, claims: Record<string, unknown> = {}): string {
  const iat = Math.floor(Date.now() / 1000);
  const encode = (value: unknown) => btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const payload = { iss: ISSUER, aud: PROJECT_ID, auth_time: iat, user_id: uid, sub: uid, iat, exp: iat + 3600, ...claims };
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(payload)}.`;
}

export async function oracleToken(secret: string, uid: string, exp?: number, iat?: number): Promise<string> {
  const response = await call('/oracle/createToken', { method: 'POST', body: JSON.stringify({ secret, uid, exp, iat }) });
  return ((await response.json()) as { token: string }).token;
}

export async function oracleRecord(secret: string, op: string, args: unknown[]): Promise<RecordedRequest> {
  const response = await call('/oracle/record', { method: 'POST', body: JSON.stringify({ secret, apiKey: STREAM_API_KEY, op, args }) });
  return (await response.json()) as RecordedRequest;
}

/** Decodes a JWT's payload without verifying it (the test then verifies separately). */
export function decodePayload(token: string): Record<string, unknown> {
  const segment = token.split('.')[1]!;
  const base64 = segment.replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4))) as Record<string, unknown>;
}

/**
 * Firebase ID token verification, through the Worker's real entry point.
 *
 * Every bad credential must be refused the same way on both protocols
 * (REST: 401 problem+json with a Bearer challenge; callable: 401
 * UNAUTHENTICATED), must not be echoed back, and must never reach Stream.
 */
import { base64url, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Env } from '../../src/env';
import { MAX_TOKEN_LENGTH } from '../../src/firebase/jws';
import { verifyFirebaseIdToken } from '../../src/firebase/verify-id-token';
import {
  callable,
  callWorker,
  decodePayload,
  ISSUER,
  makeSigningKey,
  mintIdToken,
  PROJECT_ID,
  Scenario,
  type SigningKey,
} from '../support/fixtures';

const UID = 'user-abc123';
const nowSeconds = () => Math.floor(Date.now() / 1000);
const encodeJson = (value: unknown) => base64url.encode(JSON.stringify(value));

interface Setup {
  scenario: Scenario;
  env: Env;
  key: SigningKey;
}

/** A fresh scenario whose Google stand-in serves exactly `key`. */
async function setUp(): Promise<Setup> {
  const scenario = await Scenario.create();
  const key = await makeSigningKey();
  await scenario.setGoogle({ keys: [key] });
  return { scenario, env: scenario.env(), key };
}

function segments(token: string): string[] {
  return token.split('.');
}

/** A valid token for `key` with its payload replaced (the signature no longer matches). */
async function withPayload(key: SigningKey, edit: (claims: Record<string, unknown>) => Record<string, unknown>): Promise<string> {
  const [header, payload, signature] = segments(await mintIdToken(key, UID));
  const claims = edit(decodePayload(`${header}.${payload}.${signature}`));
  return `${header}.${encodeJson(claims)}.${signature}`;
}

/** The valid claims a normal token for `key` carries. */
async function validClaims(key: SigningKey): Promise<Record<string, unknown>> {
  return decodePayload(await mintIdToken(key, UID));
}

async function hs256Token(key: SigningKey, secret: Uint8Array): Promise<string> {
  return new SignJWT(await validClaims(key)).setProtectedHeader({ alg: 'HS256', kid: key.kid, typ: 'JWT' }).sign(secret);
}

interface BadCredential {
  /** The whole Authorization header value. */
  authorization: string;
  /** What must never appear in a response body. */
  secrets: string[];
}

const bearer = (token: string): BadCredential => ({ authorization: `Bearer ${token}`, secrets: secretsOf(token) });

/** The token itself and every 12-character slice of its signature. */
function secretsOf(token: string): string[] {
  const out = token.length >= 12 ? [token] : [];
  const signature = segments(token)[2] ?? '';
  for (let i = 0; i + 12 <= signature.length; i++) out.push(signature.slice(i, i + 12));
  return out;
}

interface RejectionCase {
  name: string;
  credential: (setup: Setup) => Promise<BadCredential>;
  /** Loosely, what the refusal must say: proves the token failed for this case's reason and not another. */
  reason: RegExp;
  /** Refused on shape alone: no need to look at Google's keys. */
  refusedBeforeKeyLookup?: boolean;
  /** Also try the route that writes to Stream. */
  alsoUsersMe?: boolean;
}

const cases: RejectionCase[] = [
  {
    name: 'alg "none" with an empty signature',
    reason: /RS256/,
    credential: async ({ key }) => bearer(`${encodeJson({ alg: 'none' })}.${encodeJson(await validClaims(key))}.`),
    refusedBeforeKeyLookup: true,
    alsoUsersMe: true,
  },
  {
    name: 'alg "none" naming a real kid',
    reason: /RS256/,
    credential: async ({ key }) =>
      bearer(`${encodeJson({ alg: 'none', kid: key.kid, typ: 'JWT' })}.${encodeJson(await validClaims(key))}.`),
    refusedBeforeKeyLookup: true,
  },
  {
    name: 'HS256 with the public JWK (JSON) as HMAC secret',
    reason: /RS256/,
    credential: async ({ key }) => bearer(await hs256Token(key, new TextEncoder().encode(JSON.stringify(key.publicJwk)))),
    refusedBeforeKeyLookup: true,
    alsoUsersMe: true,
  },
  {
    name: 'HS256 with the public modulus n as HMAC secret',
    reason: /RS256/,
    credential: async ({ key }) => bearer(await hs256Token(key, new TextEncoder().encode(key.publicJwk.n!))),
    refusedBeforeKeyLookup: true,
  },
  {
    name: 'unknown kid',
    reason: /unknown key/,
    credential: async ({ key }) => bearer(await mintIdToken(key, UID, { header: { kid: 'no-such-kid' } })),
    alsoUsersMe: true,
  },
  {
    name: 'missing kid',
    reason: /kid/,
    credential: async ({ key }) => bearer(await mintIdToken(key, UID, { header: { kid: undefined } })),
    refusedBeforeKeyLookup: true,
    alsoUsersMe: true,
  },
  {
    name: 'wrong aud',
    reason: /audience/,
    credential: async ({ key }) => bearer(await mintIdToken(key, UID, { claims: { aud: 'some-other-project' } })),
    alsoUsersMe: true,
  },
  {
    name: 'aud as an array containing the project id',
    reason: /audience/,
    credential: async ({ key }) => bearer(await mintIdToken(key, UID, { claims: { aud: [PROJECT_ID] } })),
    alsoUsersMe: true,
  },
  {
    name: 'wrong iss',
    reason: /issuer/,
    credential: async ({ key }) =>
      bearer(await mintIdToken(key, UID, { claims: { iss: 'https://securetoken.google.com/some-other-project' } })),
  },
  {
    name: 'empty sub',
    reason: /subject/,
    credential: async ({ key }) => bearer(await mintIdToken(key, UID, { claims: { sub: '' } })),
    alsoUsersMe: true,
  },
  {
    name: 'sub of 129 characters',
    reason: /128/,
    credential: async ({ key }) => bearer(await mintIdToken(key, 'a'.repeat(129))),
  },
  {
    name: 'expired exp',
    reason: /expired/,
    credential: async ({ key }) => bearer(await mintIdToken(key, UID, { claims: { exp: nowSeconds() - 60 } })),
    alsoUsersMe: true,
  },
  {
    name: 'iat 60 s in the future',
    reason: /issued in the future/,
    credential: async ({ key }) =>
      bearer(await mintIdToken(key, UID, { iat: nowSeconds() + 60, claims: { auth_time: nowSeconds() - 60 } })),
  },
  {
    name: 'auth_time 60 s in the future',
    reason: /authentication time/,
    credential: async ({ key }) => bearer(await mintIdToken(key, UID, { claims: { auth_time: nowSeconds() + 60 } })),
  },
  {
    name: 'signature from a different RSA key with the same kid',
    reason: /signature/,
    credential: async ({ key }) => bearer(await mintIdToken(await makeSigningKey(key.kid), UID)),
    alsoUsersMe: true,
  },
  {
    name: 'tampered payload (sub changed, signature kept)',
    reason: /signature/,
    credential: async ({ key }) =>
      bearer(await withPayload(key, (claims) => ({ ...claims, sub: 'someone-else', user_id: 'someone-else' }))),
    alsoUsersMe: true,
  },
  {
    name: 'two segments',
    reason: /segments/,
    credential: async ({ key }) =>
      bearer(
        segments(await mintIdToken(key, UID))
          .slice(0, 2)
          .join('.'),
      ),
    refusedBeforeKeyLookup: true,
  },
  {
    name: 'four segments',
    reason: /segments/,
    credential: async ({ key }) => bearer(`${await mintIdToken(key, UID)}.${base64url.encode('extra')}`),
    refusedBeforeKeyLookup: true,
  },
  {
    name: 'header with characters outside base64url',
    reason: /base64/,
    credential: async ({ key }) => {
      const [, payload, signature] = segments(await mintIdToken(key, UID));
      return bearer(`${btoa(JSON.stringify({ alg: 'RS256', kid: key.kid, x: '>>>???' }))}.${payload}.${signature}`);
    },
    refusedBeforeKeyLookup: true,
  },
  {
    name: 'header of impossible base64 length',
    reason: /base64|JSON/,
    credential: async ({ key }) => {
      const [header, payload, signature] = segments(await mintIdToken(key, UID));
      // A base64 text of length 4k+1 cannot be decoded, whatever its characters.
      let broken = header!;
      while (broken.length % 4 !== 1) broken += 'A';
      return bearer(`${broken}.${payload}.${signature}`);
    },
    refusedBeforeKeyLookup: true,
  },
  {
    name: 'non-JSON header',
    reason: /JSON/,
    credential: async ({ key }) => {
      const [, payload, signature] = segments(await mintIdToken(key, UID));
      return bearer(`${base64url.encode(`alg: RS256, kid: ${key.kid}`)}.${payload}.${signature}`);
    },
    refusedBeforeKeyLookup: true,
  },
  {
    name: `validly signed but longer than ${MAX_TOKEN_LENGTH} characters`,
    reason: /too large/,
    credential: async ({ key }) => {
      const token = await mintIdToken(key, UID, { claims: { padding: 'x'.repeat(MAX_TOKEN_LENGTH) } });
      expect(token.length).toBeGreaterThan(MAX_TOKEN_LENGTH);
      return bearer(token);
    },
    refusedBeforeKeyLookup: true,
    alsoUsersMe: true,
  },
  {
    name: 'Basic scheme',
    reason: /Bearer/,
    credential: async ({ key }) => {
      const token = await mintIdToken(key, UID);
      return { authorization: `Basic ${btoa(`${UID}:${token}`)}`, secrets: [token, ...secretsOf(token)] };
    },
    refusedBeforeKeyLookup: true,
  },
  {
    name: 'valid token under the Basic scheme name',
    reason: /Bearer/,
    credential: async ({ key }) => {
      const token = await mintIdToken(key, UID);
      return { authorization: `Basic ${token}`, secrets: secretsOf(token) };
    },
    refusedBeforeKeyLookup: true,
    alsoUsersMe: true,
  },
  {
    name: '"Bearer " with an empty token',
    reason: /Bearer/,
    credential: async () => ({ authorization: 'Bearer ', secrets: [] }),
    refusedBeforeKeyLookup: true,
  },
];

function post(env: Env, path: string, authorization?: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (authorization !== undefined) headers.Authorization = authorization;
  return callWorker(env, path, { headers, body: JSON.stringify(body ?? {}) });
}

const postCallable = (env: Env, name: string, authorization?: string) => post(env, `/${name}`, authorization, { data: null });

function expectNoLeak(body: string, credential: BadCredential): void {
  for (const secret of credential.secrets)
    expect(body.includes(secret), `response body echoes part of the credential: ${secret.slice(0, 12)}…`).toBe(false);
}

async function expectRestRejection(response: Response, credential: BadCredential, reason: RegExp): Promise<void> {
  const text = await response.text();
  expect(response.status, text).toBe(401);
  expect(response.headers.get('Content-Type')).toMatch(/^application\/problem\+json\b/);
  expect(response.headers.get('WWW-Authenticate')).toBe('Bearer realm="stream-token-edge", error="invalid_token"');
  expect(response.headers.get('Cache-Control')).toBe('no-store');
  const problem = JSON.parse(text) as { status: unknown; code: unknown; detail: unknown };
  expect(problem).toMatchObject({ status: 401, code: 'invalid_token' });
  expect(problem.detail).toMatch(reason);
  expectNoLeak(text, credential);
}

async function expectCallableRejection(response: Response, credential: BadCredential, reason: RegExp): Promise<void> {
  const text = await response.text();
  expect(response.status, text).toBe(401);
  expect(response.headers.get('Content-Type')).toMatch(/^application\/json\b/);
  const body = JSON.parse(text) as { error?: { status?: unknown; message?: unknown } };
  expect(body.error?.status).toBe('UNAUTHENTICATED');
  expect(body.error?.message).toMatch(reason);
  expectNoLeak(text, credential);
}

describe('Firebase ID token rejection matrix (through the Worker)', () => {
  for (const testCase of cases) {
    it(`refuses ${testCase.name}`, async () => {
      const setup = await setUp();
      const { scenario, env } = setup;
      const credential = await testCase.credential(setup);

      await expectRestRejection(await post(env, '/v1/token', credential.authorization), credential, testCase.reason);
      await expectCallableRejection(await postCallable(env, 'getStreamUserToken', credential.authorization), credential, testCase.reason);
      if (testCase.alsoUsersMe) {
        await expectRestRejection(await post(env, '/v1/users/me', credential.authorization), credential, testCase.reason);
        await expectCallableRejection(
          await postCallable(env, 'createStreamUserAndGetToken', credential.authorization),
          credential,
          testCase.reason,
        );
      }

      expect(await scenario.streamRequests()).toEqual([]);
      if (testCase.refusedBeforeKeyLookup) expect(await scenario.keyFetches()).toBe(0);
    });
  }

  it('answers a missing Authorization header with 401 on REST and FAILED_PRECONDITION on callable', async () => {
    const { scenario, env } = await setUp();

    for (const path of ['/v1/token', '/v1/users/me']) {
      const rest = await post(env, path);
      const problem = (await rest.json()) as { status: number; code: string };
      expect(rest.status).toBe(401);
      expect(rest.headers.get('Content-Type')).toMatch(/^application\/problem\+json\b/);
      // RFC 6750 §3.1: no `error` when no token was sent.
      expect(rest.headers.get('WWW-Authenticate')).toBe('Bearer realm="stream-token-edge"');
      expect(problem).toMatchObject({ status: 401, code: 'missing_authorization' });
    }

    for (const name of ['getStreamUserToken', 'createStreamUserAndGetToken']) {
      const response = await callable(env, name);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { status: string } }).error.status).toBe('FAILED_PRECONDITION');
    }

    expect(await scenario.streamRequests()).toEqual([]);
    expect(await scenario.keyFetches()).toBe(0);
  });
});

describe('Firebase ID token acceptance (through the Worker)', () => {
  async function expectStreamTokenFor(token: unknown, scenario: Scenario, uid: string): Promise<void> {
    expect(typeof token).toBe('string');
    const { payload } = await jwtVerify(token as string, new TextEncoder().encode(scenario.streamSecret), { algorithms: ['HS256'] });
    expect(payload.user_id).toBe(uid);
  }

  it('issues a Stream token for a valid ID token on both protocols', async () => {
    const { scenario, env, key } = await setUp();
    const idToken = await mintIdToken(key, UID);

    const rest = await callWorker(env, '/v1/token', { idToken });
    expect(rest.status).toBe(200);
    const body = (await rest.json()) as { token: unknown; user_id: unknown };
    expect(body.user_id).toBe(UID);
    await expectStreamTokenFor(body.token, scenario, UID);

    const viaCallable = await callable(env, 'getStreamUserToken', idToken);
    expect(viaCallable.status).toBe(200);
    await expectStreamTokenFor(((await viaCallable.json()) as { result: unknown }).result, scenario, UID);

    // Issuing a token needs no call to Stream.
    expect(await scenario.streamRequests()).toEqual([]);
  });

  it('accepts a token whose auth_time and iat are a few seconds ahead (clock skew)', async () => {
    const { env, key } = await setUp();
    const idToken = await mintIdToken(key, UID, { iat: nowSeconds() + 2 });
    expect((await callWorker(env, '/v1/token', { idToken })).status).toBe(200);
  });

  it('accepts a uid of exactly 128 letters', async () => {
    const { scenario, env, key } = await setUp();
    const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
    const uid = Array.from({ length: 128 }, (_, i) => letters[i % letters.length]).join('');
    expect(uid).toHaveLength(128);

    const response = await callWorker(env, '/v1/token', { idToken: await mintIdToken(key, uid) });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { token: unknown; user_id: unknown };
    expect(body.user_id).toBe(uid);
    await expectStreamTokenFor(body.token, scenario, uid);
  });

  it('uses the issuer and audience of the configured project', async () => {
    // Sanity check on the fixtures the matrix relies on: the "valid" claims really are valid.
    const { key } = await setUp();
    expect(await validClaims(key)).toMatchObject({ iss: ISSUER, aud: PROJECT_ID, sub: UID });
  });
});

// --- The verifier on its own: rules the Worker-level rejection matrix above does not reach directly. ---

const NOW = Date.now();

async function setup() {
  const key = await makeSigningKey();
  const publicKey = await crypto.subtle.importKey(
    'jwk',
    key.publicJwk as JsonWebKey,
    { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    false,
    ['verify'],
  );
  const verify = (token: string) =>
    verifyFirebaseIdToken(token, { projectId: PROJECT_ID, issuer: ISSUER, getKey: async () => publicKey, now: NOW });
  return { key, verify };
}

const b64 = (value: unknown) => btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const goodPayload = (now: number) => ({ iss: ISSUER, aud: PROJECT_ID, sub: 'u', iat: now, exp: now + 3600 });

/** Signs exactly the header given (jose refuses to sign unknown `crit` headers). */
async function signRaw(key: Awaited<ReturnType<typeof makeSigningKey>>, header: unknown, payload: unknown): Promise<string> {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = new Uint8Array(await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key.privateKey, new TextEncoder().encode(input)));
  return `${input}.${btoa(String.fromCharCode(...signature))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')}`;
}

const reason = async (promise: Promise<unknown>) => {
  try {
    await promise;
    return 'accepted';
  } catch (error) {
    return (error as Error).message;
  }
};

describe('verifyFirebaseIdToken rules', () => {
  it('accepts a good token and returns its claims', async () => {
    const { key, verify } = await setup();
    expect(await reason(verify(await signRaw(key, { alg: 'RS256', kid: key.kid }, goodPayload(Math.floor(NOW / 1000)))))).toBe('accepted');
    expect(await verify(await mintIdToken(key, 'ada', { iat: Math.floor(NOW / 1000), claims: { name: 'Ada' } }))).toMatchObject({
      sub: 'ada',
      name: 'Ada',
      aud: PROJECT_ID,
    });
  });

  it('refuses a crit header, an nbf in the future, a payload that is not a JSON object, and a non-numeric exp', async () => {
    const { key, verify } = await setup();
    const now = Math.floor(NOW / 1000);
    expect(await reason(verify(await signRaw(key, { alg: 'RS256', kid: key.kid, crit: ['x-ext'], 'x-ext': 1 }, goodPayload(now))))).toMatch(
      /critical/,
    );
    expect(await reason(verify(await mintIdToken(key, 'u', { iat: Math.floor(NOW / 1000), claims: { nbf: now + 120 } })))).toMatch(
      /not yet valid/,
    );
    expect(await reason(verify(await mintIdToken(key, 'u', { iat: Math.floor(NOW / 1000), claims: { exp: String(now + 3600) } })))).toMatch(
      /expiry/,
    );
    const token = await mintIdToken(key, 'u', { iat: Math.floor(NOW / 1000) });
    const [h, , s] = token.split('.');
    expect(await reason(verify(`${h}.${btoa('[1,2]').replace(/=+$/, '')}.${s}`))).toMatch(/payload is not a JSON object/);
  });

  it('refuses an exp equal to now (expired at that second) but accepts one a second later', async () => {
    const { key, verify } = await setup();
    const now = Math.floor(NOW / 1000);
    expect(await reason(verify(await mintIdToken(key, 'u', { iat: now - 10, claims: { exp: now } })))).toMatch(/expired/);
    expect(await reason(verify(await mintIdToken(key, 'u', { iat: now - 10, claims: { exp: now + 1 } })))).toBe('accepted');
  });

  it('refuses unsigned tokens unless asked to accept them', async () => {
    const { key, verify } = await setup();
    const [, payload] = (await mintIdToken(key, 'u', { iat: Math.floor(NOW / 1000) })).split('.');
    const unsigned = `${btoa('{"alg":"none","typ":"JWT"}').replace(/=+$/, '')}.${payload}.`;
    expect(await reason(verify(unsigned))).toMatch(/RS256/);
    const accepted = await verifyFirebaseIdToken(unsigned, {
      projectId: PROJECT_ID,
      issuer: ISSUER,
      getKey: async () => {
        throw new Error('no key needed');
      },
      now: NOW,
      acceptUnsigned: true,
    });
    expect(accepted.sub).toBe('u');
  });

  it('refuses a header or payload that starts with a UTF-8 byte-order mark, as firebase-admin does', async () => {
    const { key, verify } = await setup();
    const now = Math.floor(NOW / 1000);
    const bom = (value: unknown) =>
      btoa('\xEF\xBB\xBF' + JSON.stringify(value))
        .replace(/\+/g, '-')
        .replace(/\//g, '_')
        .replace(/=+$/, '');
    for (const [header, payload] of [
      [bom({ alg: 'RS256', kid: key.kid }), b64(goodPayload(now))],
      [b64({ alg: 'RS256', kid: key.kid }), bom(goodPayload(now))],
    ]) {
      const input = `${header}.${payload}`;
      const signature = new Uint8Array(await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key.privateKey, new TextEncoder().encode(input)));
      const token = `${input}.${btoa(String.fromCharCode(...signature))
        .replace(/\+/g, '-')
        .replace(/\//g, '_')
        .replace(/=+$/, '')}`;
      expect(await reason(verify(token))).toMatch(/not JSON/);
    }
  });
});

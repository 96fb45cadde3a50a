// Unit-level checks of rules the Worker-level rejection matrix does not reach directly.
import { describe, expect, it } from 'vitest';
import { verifyFirebaseIdToken } from '../../src/firebase/verify-id-token';
import { ISSUER, makeSigningKey, mintIdToken, PROJECT_ID } from '../support/fixtures';

const NOW = Date.now();

async function setup() {
  const key = await makeSigningKey();
  const publicKey = await crypto.subtle.importKey('jwk', key.publicJwk as JsonWebKey, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
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
  return `${input}.${btoa(String.fromCharCode(...signature)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`;
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
    expect(await verify(await mintIdToken(key, 'ada', { claims: { name: 'Ada' } }))).toMatchObject({ sub: 'ada', name: 'Ada', aud: PROJECT_ID });
  });

  it('refuses a crit header, an nbf in the future, a payload that is not a JSON object, and a non-numeric exp', async () => {
    const { key, verify } = await setup();
    const now = Math.floor(NOW / 1000);
    expect(await reason(verify(await signRaw(key, { alg: 'RS256', kid: key.kid, crit: ['x-ext'], 'x-ext': 1 }, goodPayload(now))))).toMatch(/critical/);
    expect(await reason(verify(await mintIdToken(key, 'u', { claims: { nbf: now + 120 } })))).toMatch(/not yet valid/);
    expect(await reason(verify(await mintIdToken(key, 'u', { claims: { exp: String(now + 3600) } })))).toMatch(/expiry/);
    const token = await mintIdToken(key, 'u');
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
    const [, payload] = (await mintIdToken(key, 'u')).split('.');
    const unsigned = `${btoa('{"alg":"none","typ":"JWT"}').replace(/=+$/, '')}.${payload}.`;
    expect(await reason(verify(unsigned))).toMatch(/RS256/);
    const accepted = await verifyFirebaseIdToken(unsigned, { projectId: PROJECT_ID, issuer: ISSUER, getKey: async () => { throw new Error('no key needed'); }, now: NOW, acceptUnsigned: true });
    expect(accepted.sub).toBe('u');
  });
});

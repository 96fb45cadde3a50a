/**
 * APP_CHECK against its oracle: our verifier (src/firebase/app-check.ts, the
 * module the Worker runs) and firebase-admin's `appCheck().verifyToken` judge
 * the same corpus of App Check tokens, signed with a test key whose JWKS both
 * fetch from a loopback stand-in (firebase-admin through its `httpAgent`).
 * Never accepted by us when firebase-admin refuses; refused by us when it
 * accepts only under a stricter rule written in docs/security.md.
 */
import { generateKeyPairSync } from 'node:crypto';
import { deleteApp, initializeApp, type App } from 'firebase-admin/app';
import { getAppCheck } from 'firebase-admin/app-check';
import { importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors';
import { verifyAppCheckToken } from '../../src/firebase/app-check';
import { startGoogleStandIn, type GoogleStandIn } from './google-stand-in';

const PROJECT_NUMBER = '123456789012';
const APP_ID = '1:123456789012:web:0a1b2c3d4e5f';
const KID = 'app-check-test-key';

let standIn: GoogleStandIn;
let app: App;
let publicKey: CryptoKey;
const { privateKey, publicKey: publicKeyObject } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...(publicKeyObject.export({ format: 'jwk' }) as JWK), kid: KID, alg: 'RS256', use: 'sig' };

beforeAll(async () => {
  delete process.env.FIREBASE_AUTH_EMULATOR_HOST;
  standIn = await startGoogleStandIn({}, { '/v1/jwks': { keys: [jwk] } });
  // firebase-admin checks `aud` against projects/<its project id>: give it the project number, as our rule is.
  app = initializeApp({ projectId: PROJECT_NUMBER, httpAgent: standIn.agent }, `app-check-oracle-${Date.now()}`);
  publicKey = (await importJWK(jwk, 'RS256')) as CryptoKey;
});

afterAll(async () => {
  await deleteApp(app);
  await standIn?.close();
});

const now = () => Math.floor(Date.now() / 1000);
const base = () => ({
  iss: `https://firebaseappcheck.googleapis.com/${PROJECT_NUMBER}`,
  aud: [`projects/${PROJECT_NUMBER}`, 'projects/demo-app'],
  sub: APP_ID,
  iat: now(),
  exp: now() + 3600,
});

async function sign(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'JWT', ...header } as { alg: string }).sign(privateKey);
}

/** Where we are stricter than firebase-admin on purpose (docs/security.md, App Check). */
const STRICTER = ['has the wrong issuer', 'has critical header parameters', 'has no expiry', 'is too large', 'has no "kid" header'];

describe('App Check tokens: ours against firebase-admin appCheck().verifyToken', () => {
  it('never accepts what firebase-admin refuses; refuses more only under written stricter rules', async () => {
    const drop = (key: string) => {
      const claims: Record<string, unknown> = base();
      delete claims[key];
      return claims;
    };
    const corpus: [string, string][] = [
      ['valid', await sign(base())],
      ['aud with the number only', await sign({ ...base(), aud: [`projects/${PROJECT_NUMBER}`] })],
      ['aud with the project id only', await sign({ ...base(), aud: ['projects/demo-app'] })],
      ['aud a string', await sign({ ...base(), aud: `projects/${PROJECT_NUMBER}` })],
      ['aud empty', await sign({ ...base(), aud: [] })],
      ['aud missing', await sign(drop('aud'))],
      ['iss other project', await sign({ ...base(), iss: 'https://firebaseappcheck.googleapis.com/999' })],
      ['iss with a suffix', await sign({ ...base(), iss: `https://firebaseappcheck.googleapis.com/${PROJECT_NUMBER}extra` })],
      ['iss other host', await sign({ ...base(), iss: `https://evil.example/${PROJECT_NUMBER}` })],
      ['iss missing', await sign(drop('iss'))],
      ['sub empty', await sign({ ...base(), sub: '' })],
      ['sub a number', await sign({ ...base(), sub: 42 })],
      ['sub missing', await sign(drop('sub'))],
      ['expired', await sign({ ...base(), exp: now() - 10 })],
      ['exp missing', await sign(drop('exp'))],
      ['exp a string', await sign({ ...base(), exp: String(now() + 3600) })],
      ['nbf in the future', await sign({ ...base(), nbf: now() + 600 })],
      ['kid unknown', await sign(base(), { kid: 'other' })],
      ['kid missing', await sign(base(), { kid: undefined })],
      ['crit header', await sign(base(), { crit: ['b64'], b64: true }).catch(() => '')],
      [
        'alg none',
        (await sign(base()))
          .replace(/^[^.]+/, Buffer.from('{"alg":"none","kid":"' + KID + '"}').toString('base64url'))
          .replace(/\.[^.]+$/, '.'),
      ],
      ['signature flipped', (await sign(base())).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))],
      [
        'payload swapped',
        await (async () => {
          const [h, , s] = (await sign(base())).split('.');
          return `${h}.${Buffer.from(JSON.stringify({ ...base(), sub: 'someone-else' })).toString('base64url')}.${s}`;
        })(),
      ],
      ['two segments', (await sign(base())).split('.').slice(0, 2).join('.')],
      ['huge', await sign({ ...base(), pad: 'x'.repeat(9000) })],
    ];
    const rows: { label: string; ours: string; admin: string }[] = [];
    for (const [label, token] of corpus) {
      if (token === '') continue;
      let ours = 'accept';
      try {
        await verifyAppCheckToken(token, { projectNumber: PROJECT_NUMBER, appIds: undefined }, async (kid) => {
          if (kid !== KID) throw new AppError('invalid_token', 'unknown key');
          return publicKey;
        });
      } catch (error) {
        ours = error instanceof AppError ? `reject: ${error.message}` : `crash: ${String(error)}`;
      }
      let admin = 'accept';
      try {
        await getAppCheck(app).verifyToken(token);
      } catch (error) {
        admin = `reject: ${(error as { code?: string }).code ?? 'error'}`;
      }
      rows.push({ label, ours, admin });
    }
    console.log(rows.map((r) => `${r.label.padEnd(30)} ours ${r.ours.padEnd(70)} firebase-admin ${r.admin}`).join('\n'));
    for (const row of rows) {
      expect(row.ours, row.label).not.toMatch(/^crash/);
      if (row.ours === 'accept') expect(row.admin, `${row.label}: we accept what firebase-admin refuses`).toBe('accept');
      if (row.admin === 'accept' && row.ours !== 'accept') {
        expect(
          STRICTER.some((rule) => row.ours.includes(rule)),
          `${row.label}: refused without a written stricter rule: ${row.ours}`,
        ).toBe(true);
      }
    }
    expect(rows.find((r) => r.label === 'valid')).toMatchObject({ ours: 'accept', admin: 'accept' });
    // firebase-admin fetched the stand-in's keys, not the internet.
    expect(standIn.requests.some((request) => request.endsWith('/v1/jwks'))).toBe(true);
  }, 60_000);
});

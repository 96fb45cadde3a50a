/**
 * Differential fuzzing: the Worker's ID-token verifier against firebase-admin's
 * `verifyIdToken`, on the same ≥ 10,000 generated tokens, the same keys and
 * the same clock.
 *
 * - Our side: src/firebase/verify-id-token.ts as the Worker runs it (WebCrypto),
 *   with a fixed `now` and a key map imported by jose, like the key store does.
 * - firebase-admin: `getAuth(app).verifyIdToken(token)`, not in emulator mode,
 *   fetching Google's X.509 certificates from a loopback stand-in through the
 *   app's `httpAgent` (test/fuzz/google-stand-in.ts), with `Date.now` frozen at
 *   our `now`.
 * - The corpus (test/fuzz/corpus.ts) is seeded: the seed is printed, and
 *   `FUZZ_SEED=<seed>` replays it (`FUZZ_TOKENS` changes the size).
 *
 * The contract: we never accept a token firebase-admin rejects, and every
 * token we reject that firebase-admin accepts is refused by one of our
 * deliberate, documented stricter rules (`STRICTER_RULES`).
 */
import { createHash, createHmac, createPublicKey, generateKeyPairSync, randomInt, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { deleteApp, initializeApp, SDK_VERSION, type App } from 'firebase-admin/app';
import { getAuth, type Auth } from 'firebase-admin/auth';
import { importJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AppError } from '../../src/errors';
import { b64url, directed, makeRng, mutant, pickCorruption, validBase, type Context, type PendingToken, type SignMode } from './corpus';
import { GOOGLE_CERTS_HOST, GOOGLE_CERTS_PATH, selfSignedCertificatePem, startGoogleStandIn, type GoogleStandIn } from './google-stand-in';

/**
 * src/firebase/verify-id-token.ts, loaded at run time rather than imported
 * statically: this Node project's type-check (tsconfig.node.json, DOM lib)
 * would otherwise type-check that Worker file too, and it does not pass there
 * (`Uint8Array<ArrayBufferLike>` is not a DOM `BufferSource`). The shape below
 * mirrors its exported signature.
 */
const VERIFIER_MODULE = '../../src/firebase/verify-id-token';
type VerifyFirebaseIdToken = (
  token: string,
  options: { projectId: string; issuer: string; getKey: (kid: string) => Promise<CryptoKey>; now?: number; acceptUnsigned?: boolean },
) => Promise<Record<string, unknown>>;

const PROJECT_ID = 'demo-fuzz';
const ISSUER = `https://securetoken.google.com/${PROJECT_ID}`;

/**
 * Where we are stricter than firebase-admin on purpose: our error message →
 * the rule. Each must be in docs/security.md.
 */
const STRICTER_RULES: Record<string, string> = {
  'ID token was issued in the future': '`iat` is required, a finite number, at most 5 s ahead (firebase-admin ignores `iat`)',
  'ID token has an authentication time in the future':
    '`auth_time`, if present, must be a number at most 5 s ahead (firebase-admin ignores it)',
  'ID token has critical header parameters this service does not support':
    'any `crit` header, even `[]` or `null` (firebase-admin ignores `crit`)',
  'ID token is too large': 'tokens over 8192 characters (firebase-admin has no limit)',
  'ID token has no expiry': '`exp` is required and finite (firebase-admin accepts a token without `exp`, or with `exp` 1e400 = Infinity)',
  'ID token has no "kid" header':
    '`kid` must be a non-empty string (firebase-admin tries every key when `kid` is null/""/0/false, and coerces a number or [kid] to a string)',
  'ID token has no subject (uid)':
    '`sub` is always required (firebase-admin waives every `sub` check when `event_type` is beforeSendSms/beforeSendEmail)',
  'ID token subject (uid) is longer than 128 characters':
    'the same waiver: with that `event_type`, firebase-admin accepts any `sub` length',
  'ID token header is not JSON':
    'segments must be strict base64url (no lone extra character) of strict UTF-8 JSON (firebase-admin decodes leniently)',
  'ID token payload is not JSON':
    'segments must be strict base64url (no lone extra character) of strict UTF-8 JSON (firebase-admin decodes leniently)',
};

function parseSeed(text: string | undefined): number {
  if (text === undefined || text.trim() === '') return randomInt(2 ** 32);
  const seed = Number(text);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new Error(`FUZZ_SEED must be an integer in [0, 2^32): ${text}`);
  return seed;
}
const SEED = parseSeed(process.env.FUZZ_SEED);
const TOKENS = Math.max(1000, Number(process.env.FUZZ_TOKENS ?? 10_400));

interface Outcome {
  accepted: boolean;
  /** Why it was rejected: our AppError message, or firebase-admin's code and message. */
  reason: string;
}
interface Case extends PendingToken {
  token: string;
}
interface Result extends Case {
  ours: Outcome;
  admin: Outcome;
}

const describeToken = (token: string) =>
  token.length <= 1500 ? JSON.stringify(token) : `${JSON.stringify(token.slice(0, 300))}… (${token.length} chars)`;

let app: App | undefined;
let standIn: GoogleStandIn | undefined;
let savedEmulatorHost: string | undefined;
const results: Result[] = [];
const unexpectedErrors: string[] = [];
const timings: Record<string, number> = {};
let counts = { directed: 0, valid: 0, mutants: 0, corruptions: 0 };

function sha1Hex(key: KeyObject): string {
  return createHash('sha1')
    .update(createPublicKey(key).export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

async function rsaSigningKey(privateKey: KeyObject): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    'jwk',
    privateKey.export({ format: 'jwk' }) as JsonWebKey,
    { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    false,
    ['sign'],
  );
}

/** Imported as src/firebase/google-keys.ts does: jose's importJWK of Google's JWK. */
async function verificationKey(privateKey: KeyObject): Promise<CryptoKey> {
  const jwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), alg: 'RS256' };
  const publicJwk: JWK = { kty: jwk.kty, n: jwk.n, e: jwk.e, alg: 'RS256' };
  const key = await importJWK(publicJwk, 'RS256');
  if (key instanceof Uint8Array) throw new Error('expected a CryptoKey');
  return key;
}

beforeAll(async () => {
  const started = performance.now();
  // firebase-admin must verify signatures: no emulator mode.
  savedEmulatorHost = process.env.FIREBASE_AUTH_EMULATOR_HOST;
  delete process.env.FIREBASE_AUTH_EMULATOR_HOST;

  const nowMs = Date.now();
  const now = Math.floor(nowMs / 1000);
  // firebase-admin (jsonwebtoken, its key cache) reads Date.now(): pin it to our `now`.
  vi.spyOn(Date, 'now').mockReturnValue(nowMs);

  const main = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ctx: Context = {
    now,
    projectId: PROJECT_ID,
    issuer: ISSUER,
    kid: sha1Hex(main),
    numericKid: '4242424242',
    otherKid: sha1Hex(other),
  };
  const mainCert = selfSignedCertificatePem(main, 'securetoken.system.gserviceaccount.com', nowMs);
  const otherCert = selfSignedCertificatePem(other, 'securetoken.system.gserviceaccount.com', nowMs);
  // The same key set for both sides; the numeric kid is a second name for the main key.
  standIn = await startGoogleStandIn({ [ctx.kid]: mainCert, [ctx.numericKid]: mainCert, [ctx.otherKid]: otherCert });
  const ourKeys = new Map<string, CryptoKey>([
    [ctx.kid, await verificationKey(main)],
    [ctx.numericKid, await verificationKey(main)],
    [ctx.otherKid, await verificationKey(other)],
  ]);
  const getKey = async (kid: string): Promise<CryptoKey> => {
    const key = ourKeys.get(kid);
    if (!key) throw new AppError('invalid_token', 'ID token is signed with an unknown key');
    return key;
  };
  app = initializeApp({ projectId: PROJECT_ID, httpAgent: standIn.agent }, `fuzz-${SEED}-${nowMs}`);
  const auth: Auth = getAuth(app);

  const signers = { main: await rsaSigningKey(main), other: await rsaSigningKey(other) };
  const spkiPem = createPublicKey(main).export({ type: 'spki', format: 'pem' }) as string;
  const encoder = new TextEncoder();
  const sign = async (input: string, mode: SignMode): Promise<string> => {
    switch (mode) {
      case 'rs256':
      case 'rs256-other-key': {
        const key = mode === 'rs256' ? signers.main : signers.other;
        return b64url(new Uint8Array(await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key, encoder.encode(input))));
      }
      case 'none':
        return '';
      case 'hs256-cert-pem':
        return createHmac('sha256', mainCert).update(input).digest('base64url');
      case 'hs256-spki-pem':
        return createHmac('sha256', spkiPem).update(input).digest('base64url');
      case 'random-bytes': {
        const blocks = Array.from({ length: 8 }, (_, i) => createHash('sha256').update(`${i}:${input}`).digest());
        return Buffer.concat(blocks).toString('base64url');
      }
    }
  };
  timings.setup = performance.now() - started;

  // ---- the corpus
  const generated = performance.now();
  const rng = makeRng(SEED);
  const directedCases = directed(ctx);
  const validCases = Array.from({ length: 64 }, () => validBase(rng, ctx));
  const rest = TOKENS - directedCases.length - validCases.length;
  const mutantCases = Array.from({ length: Math.round(rest * 0.62) }, () => mutant(rng, ctx));
  const pending = [...directedCases, ...validCases, ...mutantCases];
  const signed: Case[] = [];
  for (let i = 0; i < pending.length; i += 256) {
    const batch = pending.slice(i, i + 256);
    const signatures = await Promise.all(batch.map((p) => sign(p.input, p.sign)));
    batch.forEach((p, j) => signed.push({ ...p, token: `${p.input}.${signatures[j]}` }));
  }
  const validTokens = signed.filter((c) => c.category === 'valid').map((c) => c.token);
  const allTokens = signed.map((c) => c.token);
  const corruptions: Case[] = Array.from({ length: rest - mutantCases.length }, () => {
    const base = rng.chance(0.75) ? rng.pick(validTokens) : rng.pick(allTokens);
    const corruption = pickCorruption(rng);
    const [note, token] = corruption.apply(base, rng, allTokens, ctx);
    return { category: `corrupt.${corruption.name}`, note, input: '', sign: 'rs256', token };
  });
  const cases = [...signed, ...corruptions];
  counts = { directed: directedCases.length, valid: validCases.length, mutants: mutantCases.length, corruptions: corruptions.length };
  timings.corpus = performance.now() - generated;

  // ---- both verifiers on every token
  const { verifyFirebaseIdToken } = (await import(/* @vite-ignore */ VERIFIER_MODULE)) as { verifyFirebaseIdToken: VerifyFirebaseIdToken };
  const compared = performance.now();
  const ours = async (token: string): Promise<Outcome> => {
    try {
      await verifyFirebaseIdToken(token, { projectId: PROJECT_ID, issuer: ISSUER, getKey, now: nowMs });
      return { accepted: true, reason: '' };
    } catch (error) {
      if (error instanceof AppError && error.code === 'invalid_token') return { accepted: false, reason: error.message };
      const reason = `UNEXPECTED ${error instanceof AppError ? `AppError ${error.code}` : (error as Error)?.name}: ${(error as Error)?.message}`;
      unexpectedErrors.push(`${reason} for ${describeToken(token)}`);
      return { accepted: false, reason };
    }
  };
  const admin = async (token: string): Promise<Outcome> => {
    try {
      await auth.verifyIdToken(token);
      return { accepted: true, reason: '' };
    } catch (error) {
      const e = error as { code?: string; name?: string; message?: string };
      return { accepted: false, reason: `${e.code ?? e.name}: ${String(e.message).split(' See https://')[0]!.slice(0, 160)}` };
    }
  };
  // One token first, alone: firebase-admin's key fetcher does not share a fetch between concurrent callers.
  const first = cases[0]!;
  results.push({ ...first, ours: await ours(first.token), admin: await admin(first.token) });
  for (let i = 1; i < cases.length; i += 32) {
    const batch = cases.slice(i, i + 32);
    const outcomes = await Promise.all(batch.map(async (c) => Promise.all([ours(c.token), admin(c.token)])));
    batch.forEach((c, j) => results.push({ ...c, ours: outcomes[j]![0], admin: outcomes[j]![1] }));
  }
  timings.compare = performance.now() - compared;
  timings.total = performance.now() - started;
  printSummary(nowMs);
}, 300_000);

afterAll(async () => {
  vi.restoreAllMocks();
  if (app) await deleteApp(app);
  await standIn?.close();
  if (savedEmulatorHost !== undefined) process.env.FIREBASE_AUTH_EMULATOR_HOST = savedEmulatorHost;
});

const looser = () => results.filter((r) => r.ours.accepted && !r.admin.accepted);
const stricter = () => results.filter((r) => !r.ours.accepted && r.admin.accepted);

function printSummary(nowMs: number): void {
  const rows = new Map<string, { total: number; bothAccept: number; bothReject: number; stricter: number; looser: number }>();
  for (const r of results) {
    const row = rows.get(r.category) ?? { total: 0, bothAccept: 0, bothReject: 0, stricter: 0, looser: 0 };
    row.total++;
    if (r.ours.accepted && r.admin.accepted) row.bothAccept++;
    else if (!r.ours.accepted && !r.admin.accepted) row.bothReject++;
    else if (r.admin.accepted) row.stricter++;
    else row.looser++;
    rows.set(r.category, row);
  }
  const sum = { total: 0, bothAccept: 0, bothReject: 0, stricter: 0, looser: 0 };
  const lines = [...rows.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, row]) => {
      for (const k of Object.keys(sum) as Array<keyof typeof sum>) sum[k] += row[k];
      return `  ${name.padEnd(26)}${String(row.total).padStart(7)}${String(row.bothAccept).padStart(9)}${String(row.bothReject).padStart(9)}${String(row.stricter).padStart(10)}${String(row.looser).padStart(9)}`;
    });
  const rules = new Map<string, Result[]>();
  for (const r of stricter()) rules.set(r.ours.reason, [...(rules.get(r.ours.reason) ?? []), r]);
  const looserGroups = new Map<string, Result[]>();
  for (const r of looser()) looserGroups.set(r.admin.reason.slice(0, 100), [...(looserGroups.get(r.admin.reason.slice(0, 100)) ?? []), r]);
  if (process.env.FUZZ_DUMP) {
    const lines = results
      .filter((r) => r.ours.accepted !== r.admin.accepted)
      .map((r) => JSON.stringify({ category: r.category, note: r.note, ours: r.ours, admin: r.admin, token: r.token }));
    writeFileSync(process.env.FUZZ_DUMP, `${lines.join('\n')}\n`);
  }
  const out = [
    '',
    `Differential fuzz: verifyFirebaseIdToken vs firebase-admin ${SDK_VERSION} verifyIdToken`,
    `  seed ${SEED} (replay: FUZZ_SEED=${SEED}), now ${new Date(nowMs).toISOString()}, ${results.length} tokens: ` +
      `${counts.directed} directed, ${counts.valid} valid, ${counts.mutants} signed mutants, ${counts.corruptions} corruptions`,
    `  ${'category'.padEnd(26)}${'tokens'.padStart(7)}${'both-ok'.padStart(9)}${'both-no'.padStart(9)}${'stricter'.padStart(10)}${'LOOSER'.padStart(9)}`,
    ...lines,
    `  ${'TOTAL'.padEnd(26)}${String(sum.total).padStart(7)}${String(sum.bothAccept).padStart(9)}${String(sum.bothReject).padStart(9)}${String(sum.stricter).padStart(10)}${String(sum.looser).padStart(9)}`,
    `  agreements ${sum.bothAccept + sum.bothReject}, disagreements ${sum.stricter + sum.looser} (we stricter ${sum.stricter}, we LOOSER ${sum.looser})`,
    '  We reject, firebase-admin accepts (by our message):',
    ...[...rules.entries()]
      .sort((a, b) => b[1].length - a[1].length)
      .map(
        ([message, rs]) =>
          `    ${String(rs.length).padStart(5)}  ${message}${STRICTER_RULES[message] ? '' : '   <-- NOT AN ALLOWED STRICTER RULE'}\n` +
          `           e.g. ${[...new Set(rs.map((r) => `[${r.category}] ${r.note}`))].slice(0, 3).join(' | ').slice(0, 400)}`,
      ),
    `  We accept, firebase-admin rejects (by firebase-admin's reason): ${looser().length}`,
    ...[...looserGroups.entries()]
      .sort((a, b) => b[1].length - a[1].length)
      .map(
        ([reason, rs]) =>
          `    ${String(rs.length).padStart(5)}  ${reason}\n           e.g. ${[...new Set(rs.map((r) => `[${r.category}] ${r.note}`))].slice(0, 3).join(' | ').slice(0, 400)}`,
      ),
    ...looser()
      .filter((r) => r.token.length < 1500)
      .slice(0, 2)
      .map((r) => `    example token [${r.category}] ${r.note}:\n      ${r.token}`),
    `  unexpected errors from our verifier: ${unexpectedErrors.length}`,
    `  wall time: setup ${timings.setup?.toFixed(0)} ms, corpus+signing ${timings.corpus?.toFixed(0)} ms, ` +
      `comparison ${timings.compare?.toFixed(0)} ms, total ${timings.total?.toFixed(0)} ms; certificate fetches ${standIn?.requests.length}`,
    '',
  ];
  console.log(out.join('\n'));
}

describe(`verifyFirebaseIdToken vs firebase-admin verifyIdToken (FUZZ_SEED=${SEED})`, () => {
  it('ran both verifiers on at least 10,000 tokens, firebase-admin fetching the certificates once', () => {
    expect(results.length).toBeGreaterThanOrEqual(Math.min(TOKENS, 10_000));
    expect(standIn?.requests).toEqual([`${GOOGLE_CERTS_HOST}${GOOGLE_CERTS_PATH}`]);
    // Both sides really verify: the plain valid token passes, and plenty of odd-but-valid ones do too.
    const valid = results.find((r) => r.category === 'directed' && r.note === 'valid');
    expect(valid?.ours).toEqual({ accepted: true, reason: '' });
    expect(valid?.admin).toEqual({ accepted: true, reason: '' });
    expect(results.filter((r) => r.ours.accepted && r.admin.accepted).length).toBeGreaterThan(results.length / 20);
    expect(results.filter((r) => !r.ours.accepted && !r.admin.accepted).length).toBeGreaterThan(results.length / 2);
  });

  it('never accepts a token firebase-admin rejects', () => {
    // Short lines (the summary above prints whole example tokens; FUZZ_DUMP=<file> writes every disagreement as JSON lines).
    const found = looser().map(
      (r) => `[${r.category}] ${r.note.slice(0, 120)} — firebase-admin: ${r.admin.reason.slice(0, 100)} (${r.token.length} chars)`,
    );
    expect(found).toEqual([]);
  });

  it('rejects tokens firebase-admin accepts only under a documented stricter rule', () => {
    const undocumented = stricter()
      .filter((r) => !(r.ours.reason in STRICTER_RULES))
      .map((r) => `${r.ours.reason} — [${r.category}] ${r.note.slice(0, 120)} (${r.token.length} chars)`);
    expect(undocumented).toEqual([]);
  });

  it('fails every bad token with invalid_token, never with anything else', () => {
    expect(unexpectedErrors).toEqual([]);
  });
});

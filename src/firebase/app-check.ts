/**
 * Firebase App Check: the `X-Firebase-AppCheck` header a genuine app sends,
 * verified as firebase-admin's `appCheck().verifyToken` does (oracle:
 * test/fuzz/app-check.oracle.test.ts), with its keys from their own cache
 * (the same GoogleKeyStore rules as the ID-token keys).
 *
 * Accepted only if: header `alg` RS256 with a `kid` naming a current App
 * Check key and no `crit`; a valid signature; `iss` exactly
 * `https://firebaseappcheck.googleapis.com/<project number>` (firebase-admin
 * only checks the prefix); `aud` a non-empty array containing
 * `projects/<project number>`; `sub` (the Firebase
 * app id) a non-empty string, and one of APP_CHECK_APP_IDS when that is set;
 * `exp` in the future; `nbf`, if any, not in the future.
 *
 * @module
 */
import { AppError } from '../errors';
import { BASE64URL_SEGMENT, decodeJsonSegment, MAX_TOKEN_LENGTH, verifyRs256 } from './jws';
import type { Background } from '../platform/io';
import { log } from '../platform/log';

type AppCheckMode = 'off' | 'monitor' | 'enforce';

export interface AppCheckRules {
  projectNumber: string;
  /** Allowed Firebase app ids; undefined = any app of the project. */
  appIds: ReadonlySet<string> | undefined;
}

const APP_CHECK_ISSUER = 'https://firebaseappcheck.googleapis.com/';

/** The failure kinds, for logs: each says what was wrong, never what the token contained. */
type AppCheckFailure =
  'missing' | 'malformed' | 'algorithm' | 'signature' | 'issuer' | 'audience' | 'subject' | 'app_not_allowed' | 'expired';

class AppCheckError extends AppError {
  readonly kind: AppCheckFailure;
  constructor(kind: AppCheckFailure, message: string) {
    super('app_check_failed', message);
    this.kind = kind;
  }
}

/** Verifies an App Check token; throws AppCheckError, or the key store's `keys_unavailable` (503). */
export async function verifyAppCheckToken(
  token: string,
  rules: AppCheckRules,
  getKey: (kid: string) => Promise<CryptoKey>,
  nowMs: number = Date.now(),
): Promise<{ appId: string }> {
  const fail = (kind: AppCheckFailure, message: string) => new AppCheckError(kind, `App Check token ${message}`);
  if (token.length > MAX_TOKEN_LENGTH) throw fail('malformed', 'is too large');
  const segments = token.split('.');
  if (segments.length !== 3 || !segments.every((segment) => BASE64URL_SEGMENT.test(segment)))
    throw fail('malformed', 'is not a signed JWT');
  const [headerSegment, payloadSegment, signatureSegment] = segments as [string, string, string];
  const header = decodeJsonSegment(headerSegment);
  const payload = decodeJsonSegment(payloadSegment);
  if (!header.ok || !payload.ok) throw fail('malformed', 'is not a JWT of JSON objects');
  const { alg, kid, crit } = header.value;
  if (alg !== 'RS256') throw fail('algorithm', 'must be signed with RS256');
  if (crit !== undefined) throw fail('malformed', 'has critical header parameters');
  if (typeof kid !== 'string' || kid === '') throw fail('malformed', 'has no "kid" header');

  let key: CryptoKey;
  try {
    key = await getKey(kid);
  } catch (error) {
    // An unknown kid is a bad App Check token, not a bad ID token.
    if (error instanceof AppError && error.code === 'invalid_token') throw fail('signature', 'is signed with an unknown key');
    throw error;
  }
  if (!(await verifyRs256(key, token, headerSegment.length + 1 + payloadSegment.length, signatureSegment))) {
    throw fail('signature', 'signature is invalid');
  }

  const claims = payload.value;
  const nowSeconds = Math.floor(nowMs / 1000);
  if (claims.iss !== `${APP_CHECK_ISSUER}${rules.projectNumber}`) throw fail('issuer', 'has the wrong issuer');
  if (!Array.isArray(claims.aud) || !claims.aud.includes(`projects/${rules.projectNumber}`)) {
    throw fail('audience', 'has the wrong audience');
  }
  if (typeof claims.sub !== 'string' || claims.sub === '') throw fail('subject', 'has no subject (app id)');
  if (rules.appIds !== undefined && !rules.appIds.has(claims.sub))
    throw fail('app_not_allowed', 'comes from an app that is not allowed (APP_CHECK_APP_IDS)');
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) throw fail('expired', 'has no expiry');
  if (claims.exp <= nowSeconds) throw fail('expired', 'has expired');
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > nowSeconds)) throw fail('expired', 'is not yet valid');
  return { appId: claims.sub };
}

/**
 * The mode around the verifier: `enforce` refuses a missing or bad token
 * (401 `app_check_failed`, before anything else happens); `monitor` serves
 * the request and logs one line per failure, with its kind; `off` does nothing.
 */
export class AppCheckGate {
  readonly #mode: Exclude<AppCheckMode, 'off'>;
  readonly #verify: (token: string, waitUntil?: Background) => Promise<unknown>;

  constructor(mode: Exclude<AppCheckMode, 'off'>, verify: (token: string, waitUntil?: Background) => Promise<unknown>) {
    this.#mode = mode;
    this.#verify = verify;
  }

  /** `waitUntil` carries a background refresh of App Check's keys past the answer. */
  async check(header: string | null, waitUntil?: Background): Promise<void> {
    try {
      if (header === null || header.trim() === '') throw new AppCheckError('missing', 'App Check token is missing (X-Firebase-AppCheck)');
      await this.#verify(header.trim(), waitUntil);
    } catch (error) {
      const kind = error instanceof AppCheckError ? error.kind : error instanceof AppError ? error.code : 'unexpected';
      log.warn('app_check_failed', { mode: this.#mode, kind });
      // Monitor never blocks a request; enforce refuses (keys unavailable: 503, as for ID tokens).
      if (this.#mode === 'enforce') throw error;
    }
  }
}

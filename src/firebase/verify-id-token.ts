import { AppError } from '../errors';
import { MAX_FIREBASE_UID_LENGTH } from '../user-id';
import { BASE64URL_SEGMENT, decodeJsonSegment, MAX_TOKEN_LENGTH, verifyRs256 } from './jws';
import type { Background } from '../platform/io';

/** The claims this service reads from a verified Firebase ID token. */
export interface FirebaseClaims {
  sub: string;
  aud: string;
  iss: string;
  exp: number;
  iat: number;
  auth_time?: number;
  name?: unknown;
  picture?: unknown;
  email?: unknown;
  [claim: string]: unknown;
}

/** What a verifier may need of the request: its URL (emulator mode checks it arrived on loopback) and `waitUntil` (key refreshes). */
export interface VerifyContext {
  requestUrl: string;
  waitUntil: Background;
}

/** Verifies an ID token. */
export type IdTokenVerifier = (idToken: string, context: VerifyContext) => Promise<FirebaseClaims>;

interface VerifyOptions {
  projectId: string;
  /** https://securetoken.google.com/<projectId> */
  issuer: string;
  /** The public key for a `kid` (imported once by src/firebase/google-keys.ts). */
  getKey: (kid: string) => Promise<CryptoKey>;
  /** Unix milliseconds; injectable for tests. */
  now?: number;
  /**
   * Accept the Firebase Auth emulator's unsigned tokens (`alg: none`, empty
   * signature), with every claim check still applied. Only ever true behind
   * the loopback fence of src/firebase/emulator.ts.
   */
  acceptUnsigned?: boolean;
}

/** How far in the future `iat`/`auth_time` may be, to absorb clock skew between Google and Cloudflare. */
const ISSUED_AT_SKEW_SECONDS = 5;

/**
 * Verifies a Firebase ID token with the rules firebase-admin's `verifyIdToken`
 * enforces, plus the checks Firebase's documentation asks of third parties
 * (`iat` and `auth_time` not in the future):
 * header `alg` RS256 with a `kid` naming a current Google key and no `crit`;
 * valid RS256 signature; `aud` equal to the project id (a string, not an
 * array); `iss` for the project; `sub` a non-empty string of at most 128
 * characters; `exp` in the future; `nbf`, if any, not in the future.
 *
 * Each segment is decoded and parsed once and the signature checked with
 * WebCrypto directly: a generic JWT library's extra passes cost more than the
 * RSA check itself on this hot path (bench/profile.mjs), and every rule it
 * would apply is spelled out here and covered by
 * test/firebase/verify-id-token.test.ts.
 *
 * Throws AppError `invalid_token` (401) for any bad token and lets the key
 * store's `keys_unavailable` (503) through. Messages say what was wrong, never
 * what the token contained.
 */
export async function verifyFirebaseIdToken(token: string, options: VerifyOptions): Promise<FirebaseClaims> {
  if (token.length > MAX_TOKEN_LENGTH) throw invalid('ID token is too large');
  const segments = token.split('.');
  if (segments.length !== 3) throw invalid('ID token must have three segments');
  const [headerSegment, payloadSegment, signatureSegment] = segments as [string, string, string];
  if (!BASE64URL_SEGMENT.test(headerSegment) || !BASE64URL_SEGMENT.test(payloadSegment)) {
    throw invalid('ID token is not base64url-encoded');
  }
  // An empty signature is how unsigned (alg "none") tokens look.
  if (signatureSegment !== '' && !BASE64URL_SEGMENT.test(signatureSegment)) {
    throw invalid('ID token is not base64url-encoded');
  }
  const header = parseSegment(headerSegment, 'header');

  if (header.alg === 'none' && options.acceptUnsigned && signatureSegment === '') {
    return checkClaims(parseSegment(payloadSegment, 'payload'), options);
  }
  if (header.alg !== 'RS256') throw invalid('ID token must be signed with RS256');
  if (header.crit !== undefined) throw invalid('ID token has critical header parameters this service does not support');
  if (typeof header.kid !== 'string' || header.kid === '') throw invalid('ID token has no "kid" header');
  const payload = parseSegment(payloadSegment, 'payload');

  const key = await options.getKey(header.kid);
  if (!(await verifyRs256(key, token, headerSegment.length + 1 + payloadSegment.length, signatureSegment))) {
    throw invalid('ID token signature is invalid');
  }
  return checkClaims(payload, options);
}

/**
 * The project a token's `iss` names, fit to be shown: a project id is not a
 * secret, but the claim is the caller's text, so anything but a well-formed
 * Firebase issuer is only described.
 */
function issuerProject(iss: unknown): string {
  const project = typeof iss === 'string' ? /^https:\/\/securetoken\.google\.com\/([a-z0-9][a-z0-9-]{0,62})$/.exec(iss)?.[1] : undefined;
  return project === undefined ? 'an issuer that is not a Firebase project' : `project "${project}"`;
}

/** A header or payload: base64url of a UTF-8 JSON object. */
function parseSegment(segment: string, what: 'header' | 'payload'): Record<string, unknown> {
  const decoded = decodeJsonSegment(segment);
  if (!decoded.ok) throw invalid(`ID token ${what} is ${decoded.reason}`);
  return decoded.value;
}

/** Every claim rule, for signed and (emulator) unsigned tokens alike. */
function checkClaims(payload: Record<string, unknown>, options: VerifyOptions): FirebaseClaims {
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  if (payload.iss !== options.issuer) {
    // Which project, both ways: a deploy still on a placeholder project id is found at the first sign-in.
    throw invalid(
      `ID token has the wrong issuer: this Worker expects project "${options.projectId}" (FIREBASE_PROJECT_ID), the token is from ${issuerProject(payload.iss)}`,
    );
  }
  // A string, not an array containing it: Firebase tokens carry a string and firebase-admin insists on it.
  if (payload.aud !== options.projectId) throw invalid('ID token has the wrong audience');
  if (typeof payload.sub !== 'string' || payload.sub === '') throw invalid('ID token has no subject (uid)');
  if (payload.sub.length > MAX_FIREBASE_UID_LENGTH) throw invalid('ID token subject (uid) is longer than 128 characters');
  if (typeof payload.exp !== 'number' || !Number.isFinite(payload.exp)) throw invalid('ID token has no expiry');
  if (payload.exp <= nowSeconds) throw invalid('ID token has expired');
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > nowSeconds)) {
    throw invalid('ID token is not yet valid');
  }
  const latestIssue = nowSeconds + ISSUED_AT_SKEW_SECONDS;
  if (typeof payload.iat !== 'number' || !Number.isFinite(payload.iat) || payload.iat > latestIssue) {
    throw invalid('ID token was issued in the future');
  }
  const authTime = payload.auth_time;
  if (authTime !== undefined && (typeof authTime !== 'number' || authTime > latestIssue)) {
    throw invalid('ID token has an authentication time in the future');
  }
  return payload as FirebaseClaims;
}

function invalid(message: string): AppError {
  return new AppError('invalid_token', message);
}

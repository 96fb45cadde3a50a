import { decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { AppError } from '../errors';

/** The claims this service reads from a verified Firebase ID token. */
export interface FirebaseClaims extends JWTPayload {
  sub: string;
  name?: unknown;
  picture?: unknown;
  email?: unknown;
}

export interface VerifyOptions {
  projectId: string;
  /** https://securetoken.google.com/<projectId> */
  issuer: string;
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

/** Firebase ID tokens are about 1 KB; anything far larger is not one and is refused before any parsing. */
export const MAX_ID_TOKEN_LENGTH = 8192;
/** How far in the future `iat`/`auth_time` may be, to absorb clock skew between Google and Cloudflare. */
export const ISSUED_AT_SKEW_SECONDS = 5;
const MAX_UID_LENGTH = 128;
const BASE64URL_SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * Verifies a Firebase ID token with the rules firebase-admin's `verifyIdToken`
 * enforces, plus the checks Firebase's documentation asks of third parties
 * (`iat` and `auth_time` not in the future):
 * header `alg` RS256 with a `kid` naming a current Google key; valid signature;
 * `aud` equal to the project id (a string, not an array); `iss` for the project;
 * `sub` a non-empty string of at most 128 characters; `exp` in the future.
 *
 * Throws AppError `invalid_token` (401) for any bad token and lets the key
 * store's `keys_unavailable` (503) through. Messages say what was wrong, never
 * what the token contained.
 */
export async function verifyFirebaseIdToken(token: string, options: VerifyOptions): Promise<FirebaseClaims> {
  const header = readHeader(token);
  if (header.alg === 'none' && options.acceptUnsigned && token.endsWith('.')) return verifyUnsigned(token, options);
  if (header.alg !== 'RS256') throw invalid(`ID token must be signed with RS256`);
  if (typeof header.kid !== 'string' || header.kid === '') throw invalid('ID token has no "kid" header');

  const key = await options.getKey(header.kid);

  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: ['RS256'],
      issuer: options.issuer,
      audience: options.projectId,
      currentDate: options.now === undefined ? undefined : new Date(options.now),
    }));
  } catch (error) {
    throw invalid(describeJoseError(error), error);
  }
  return checkClaims(payload, options);
}

/** Emulator tokens: no signature to check, so the claims jose would check are checked here. */
function verifyUnsigned(token: string, options: VerifyOptions): FirebaseClaims {
  let payload: JWTPayload;
  try {
    payload = decodeJwt(token);
  } catch {
    throw invalid('ID token is malformed');
  }
  if (payload.iss !== options.issuer) throw invalid('ID token has the wrong issuer');
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  if (typeof payload.exp !== 'number' || payload.exp <= nowSeconds) throw invalid('ID token has expired');
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > nowSeconds)) {
    throw invalid('ID token is not yet valid');
  }
  return checkClaims(payload, options);
}

interface Header {
  alg?: unknown;
  kid?: unknown;
}

/** Shape checks that need no key: three base64url segments and a JSON object header. */
function readHeader(token: string): Header {
  if (token.length > MAX_ID_TOKEN_LENGTH) throw invalid('ID token is too large');
  const segments = token.split('.');
  if (segments.length !== 3) throw invalid('ID token must have three segments');
  const [headerSegment, payloadSegment, signatureSegment] = segments as [string, string, string];
  if (!BASE64URL_SEGMENT.test(headerSegment) || !BASE64URL_SEGMENT.test(payloadSegment)) {
    throw invalid('ID token is not base64url-encoded');
  }
  // An empty signature is how unsigned (alg "none") tokens look; they are refused below by alg anyway.
  if (signatureSegment !== '' && !BASE64URL_SEGMENT.test(signatureSegment)) {
    throw invalid('ID token is not base64url-encoded');
  }
  let header: unknown;
  try {
    header = JSON.parse(decodeBase64UrlText(headerSegment));
  } catch {
    throw invalid('ID token header is not JSON');
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw invalid('ID token header is not a JSON object');
  }
  return header as Header;
}

function checkClaims(payload: JWTPayload, options: VerifyOptions): FirebaseClaims {
  // jose accepts an `aud` array that contains the audience; Firebase tokens carry a string and firebase-admin insists on it.
  if (payload.aud !== options.projectId) throw invalid('ID token has the wrong audience');
  if (typeof payload.sub !== 'string' || payload.sub === '') throw invalid('ID token has no subject (uid)');
  if (payload.sub.length > MAX_UID_LENGTH) throw invalid('ID token subject (uid) is longer than 128 characters');
  if (typeof payload.exp !== 'number') throw invalid('ID token has no expiry');
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  const latestIssue = nowSeconds + ISSUED_AT_SKEW_SECONDS;
  if (typeof payload.iat !== 'number' || payload.iat > latestIssue) {
    throw invalid('ID token was issued in the future');
  }
  const authTime = payload.auth_time;
  if (authTime !== undefined && (typeof authTime !== 'number' || authTime > latestIssue)) {
    throw invalid('ID token has an authentication time in the future');
  }
  return payload as FirebaseClaims;
}

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'ID token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return 'ID token has the wrong issuer';
      case 'aud':
        return 'ID token has the wrong audience';
      case 'nbf':
        return 'ID token is not yet valid';
      default:
        return 'ID token has an invalid claim';
    }
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'ID token signature is invalid';
  return 'ID token is malformed';
}

function invalid(message: string, cause?: unknown): AppError {
  return new AppError('invalid_token', message, { cause });
}

function decodeBase64UrlText(segment: string): string {
  const base64 = segment.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  // A plain loop: Uint8Array.from with a mapping function costs ~10x more on this hot path.
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
}

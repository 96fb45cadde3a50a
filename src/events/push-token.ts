/**
 * @module push-token
 *
 * Verifies the OIDC token Pub/Sub attaches to each authenticated push
 * (`Authorization: Bearer <JWT>`), with the same strict JWS pieces as the
 * Firebase ID-token verifier (src/firebase/jws.ts) and Google's OIDC keys
 * (GOOGLE_OIDC_JWKS_URL, cached by a GoogleKeyStore of its own).
 *
 * What Google documents for push authentication ("Authenticate push
 * subscriptions", cloud.google.com/pubsub/docs/authenticate-push-subscriptions):
 * RS256 with a `kid` of https://www.googleapis.com/oauth2/v3/certs; `iss`
 * `https://accounts.google.com` or `accounts.google.com`; `aud` the
 * subscription's `--push-auth-token-audience`; `email` the
 * `--push-auth-service-account` with `email_verified` true; `exp`/`iat`.
 * Every rule is checked here, each bad token is AppError `invalid_token`
 * (401) with a message that names the rule, never the token's content.
 */
import { AppError } from '../errors';
import { BASE64URL_SEGMENT, decodeJsonSegment, MAX_TOKEN_LENGTH, verifyRs256 } from '../firebase/jws';

const ISSUERS: ReadonlySet<string> = new Set(['https://accounts.google.com', 'accounts.google.com']);
/** Clock skew between Google and Cloudflare tolerated on `iat`. */
const ISSUED_AT_SKEW_SECONDS = 5;

interface PushTokenRules {
  audience: string;
  serviceAccount: string;
  /** The public key for a `kid` (GoogleKeyStore.getKey): throws `invalid_token` or `keys_unavailable`. */
  getKey: (kid: string) => Promise<CryptoKey>;
  /** Unix milliseconds; injectable for tests. */
  now?: number;
}

/** Resolves when `token` is a valid push token for these rules; throws AppError otherwise. */
export async function verifyPushToken(token: string, rules: PushTokenRules): Promise<void> {
  if (token.length > MAX_TOKEN_LENGTH) throw invalid('Push token is too large');
  const segments = token.split('.');
  if (segments.length !== 3) throw invalid('Push token must have three segments');
  const [headerSegment, payloadSegment, signatureSegment] = segments as [string, string, string];
  if (![headerSegment, payloadSegment, signatureSegment].every((segment) => BASE64URL_SEGMENT.test(segment))) {
    throw invalid('Push token is not a signed, base64url-encoded JWT');
  }
  const header = parse(headerSegment, 'header');
  // Only RS256: never "none", never an HMAC whose "secret" would be a public key.
  if (header.alg !== 'RS256') throw invalid('Push token must be signed with RS256');
  if (header.crit !== undefined) throw invalid('Push token has critical header parameters this service does not support');
  if (typeof header.kid !== 'string' || header.kid === '') throw invalid('Push token has no "kid" header');
  const payload = parse(payloadSegment, 'payload');

  let key: CryptoKey;
  try {
    key = await rules.getKey(header.kid);
  } catch (error) {
    // The key store speaks of ID tokens; the push route says what it is checking.
    if (error instanceof AppError && error.code === 'invalid_token')
      throw invalid('Push token is signed with a key Google does not publish');
    throw error;
  }
  if (!(await verifyRs256(key, token, headerSegment.length + 1 + payloadSegment.length, signatureSegment))) {
    throw invalid('Push token signature is invalid');
  }
  checkClaims(payload, rules);
}

function checkClaims(payload: Record<string, unknown>, rules: PushTokenRules): void {
  const nowSeconds = Math.floor((rules.now ?? Date.now()) / 1000);
  if (typeof payload.iss !== 'string' || !ISSUERS.has(payload.iss)) throw invalid('Push token has the wrong issuer');
  // A string, as Google issues it: an array containing the audience is not what a push carries.
  if (payload.aud !== rules.audience) throw invalid('Push token has the wrong audience');
  if (payload.email !== rules.serviceAccount) throw invalid('Push token is not of the configured service account');
  if (payload.email_verified !== true) throw invalid("Push token's email is not verified");
  if (typeof payload.exp !== 'number' || !Number.isFinite(payload.exp)) throw invalid('Push token has no expiry');
  if (payload.exp <= nowSeconds) throw invalid('Push token has expired');
  if (typeof payload.iat !== 'number' || !Number.isFinite(payload.iat) || payload.iat > nowSeconds + ISSUED_AT_SKEW_SECONDS) {
    throw invalid('Push token was issued in the future');
  }
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > nowSeconds + ISSUED_AT_SKEW_SECONDS)) {
    throw invalid('Push token is not yet valid');
  }
}

function parse(segment: string, what: 'header' | 'payload'): Record<string, unknown> {
  const decoded = decodeJsonSegment(segment);
  if (!decoded.ok) throw invalid(`Push token ${what} is ${decoded.reason}`);
  return decoded.value;
}

function invalid(message: string): AppError {
  return new AppError('invalid_token', message);
}

/**
 * Stream user and server tokens: HS256 JWTs signed locally with the app
 * secret, byte-identical to what the official `stream-chat` server SDK makes
 * (`createToken(uid, exp, iat)` and its server token). No network.
 *
 * @module
 */
import { base64UrlFromBytes, base64UrlFromText } from '../base64url';

// jsonwebtoken, which the SDK uses, writes exactly this header.
const HEADER_SEGMENT = base64UrlFromText('{"alg":"HS256","typ":"JWT"}');
const encoder = new TextEncoder();

export interface UserTokenTimes {
  /** Unix seconds. Always set by this service: revocation compares against it. */
  iat: number;
  /** Unix seconds, or undefined for a token that never expires. */
  exp?: number;
}

export class StreamTokenSigner {
  readonly #key: Promise<CryptoKey>;
  #serverToken: Promise<string> | undefined;

  constructor(secret: string) {
    // Imported once per signer (one per isolate and secret), never per request.
    this.#key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  }

  /** A user token; payload keys in the SDK's order: user_id, exp, iat. */
  userToken(userId: string, times: UserTokenTimes): Promise<string> {
    const payload: { user_id: string; exp?: number; iat: number } =
      times.exp === undefined ? { user_id: userId, iat: times.iat } : { user_id: userId, exp: times.exp, iat: times.iat };
    return this.#sign(JSON.stringify(payload));
  }

  /** The server-side token for REST calls: `{"server":true}`, no iat/exp, so constant per secret. */
  serverToken(): Promise<string> {
    this.#serverToken ??= this.#sign('{"server":true}');
    return this.#serverToken;
  }

  async #sign(payloadJson: string): Promise<string> {
    const signingInput = `${HEADER_SEGMENT}.${base64UrlFromText(payloadJson)}`;
    const signature = await crypto.subtle.sign('HMAC', await this.#key, encoder.encode(signingInput));
    return `${signingInput}.${base64UrlFromBytes(new Uint8Array(signature))}`;
  }
}

/**
 * Stream refuses a token whose `iat` is ahead of its own clock ("token used
 * before issue at", code 42), so tokens are dated one second back, as
 * Stream's own Node SDK does (`iat = now − 1 s`); `exp` counts from that `iat`.
 */
export const IAT_BACKDATE_SECONDS = 1;

/** When a token minted at `nowMs` is issued and expires (ttl 0 = never). */
export function tokenTimes(nowMs: number, ttlSeconds: number): UserTokenTimes {
  const iat = Math.floor(nowMs / 1000) - IAT_BACKDATE_SECONDS;
  return ttlSeconds === 0 ? { iat } : { iat, exp: iat + ttlSeconds };
}

/**
 * OAuth2 access tokens for a Google service account (the JSON key file in the
 * `GOOGLE_SERVICE_ACCOUNT` secret), by the JWT-bearer grant: an RS256
 * assertion signed with the key file's private key, posted to its
 * `token_uri`. The token is cached until shortly before it expires.
 *
 * @module
 */
import { isSecureOrLoopback } from '../platform/loopback';
import { base64UrlFromBytes, base64UrlFromText } from '../base64url';
import { globalFetch } from '../platform/io';

export interface ServiceAccountKey {
  /** The Google Cloud project the service account belongs to (checked against FIREBASE_PROJECT_ID). */
  project_id?: string;
  client_email: string;
  private_key: string;
  token_uri: string;
  private_key_id?: string;
}

const IDENTITY_TOOLKIT_SCOPE = 'https://www.googleapis.com/auth/identitytoolkit';
/** Renew this long before the token's own expiry. */
const RENEW_BEFORE_MS = 5 * 60_000;

/** Parses the key file's content; the error names what is wrong, never the key. */
export function parseServiceAccountKey(json: string): ServiceAccountKey {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error('is not JSON (paste the whole service account key file)');
  }
  const key = parsed as Partial<ServiceAccountKey> | null;
  if (!key || typeof key !== 'object') throw new Error('is not a JSON object');
  for (const field of ['client_email', 'private_key'] as const) {
    if (typeof key[field] !== 'string' || key[field] === '') throw new Error(`has no "${field}"`);
  }
  if (!key.private_key!.includes('-----BEGIN PRIVATE KEY-----')) throw new Error('"private_key" is not a PKCS#8 PEM key');
  const tokenUri = key.token_uri ?? 'https://oauth2.googleapis.com/token';
  let url: URL;
  try {
    url = new URL(tokenUri);
  } catch {
    throw new Error('"token_uri" is not a URL');
  }
  // The signed assertion goes there: https only, http just for a loopback stand-in, so it never crosses a network in the clear.
  if (!isSecureOrLoopback(url)) {
    throw new Error('"token_uri" must be an https URL (http only for a loopback host)');
  }
  return {
    client_email: key.client_email!,
    private_key: key.private_key!,
    token_uri: tokenUri,
    private_key_id: key.private_key_id,
    project_id: typeof key.project_id === 'string' ? key.project_id : undefined,
  };
}

export class ServiceAccountTokenSource {
  readonly #key: ServiceAccountKey;
  readonly #scope: string;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  #signingKey: Promise<CryptoKey> | undefined;
  #cached: { token: string; renewAt: number } | undefined;

  constructor(key: ServiceAccountKey, options: { scope?: string; fetch?: typeof fetch; now: () => number }) {
    this.#key = key;
    this.#scope = options.scope ?? IDENTITY_TOOLKIT_SCOPE;
    this.#fetch = options.fetch ?? globalFetch;
    this.#now = options.now;
  }

  async accessToken(): Promise<string> {
    if (this.#cached && this.#now() < this.#cached.renewAt) return this.#cached.token;
    this.#signingKey ??= importPkcs8(this.#key.private_key).catch((error: unknown) => {
      this.#signingKey = undefined;
      throw new Error('GOOGLE_SERVICE_ACCOUNT private_key could not be imported', { cause: error });
    });
    const iat = Math.floor(this.#now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', ...(this.#key.private_key_id ? { kid: this.#key.private_key_id } : {}) };
    const claims = { scope: this.#scope, iss: this.#key.client_email, aud: this.#key.token_uri, iat, exp: iat + 3600 };
    const signingInput = `${base64UrlFromText(JSON.stringify(header))}.${base64UrlFromText(JSON.stringify(claims))}`;
    const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', await this.#signingKey, new TextEncoder().encode(signingInput));
    const assertion = `${signingInput}.${base64UrlFromBytes(new Uint8Array(signature))}`;

    const response = await this.#fetch(this.#key.token_uri, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`Google token endpoint answered HTTP ${response.status}`);
    }
    const body = (await response.json().catch(() => null)) as { access_token?: unknown; expires_in?: unknown } | null;
    if (!body || typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') {
      throw new Error('Google token endpoint answered without access_token/expires_in');
    }
    this.#cached = { token: body.access_token, renewAt: this.#now() + Math.max(0, body.expires_in * 1000 - RENEW_BEFORE_MS) };
    return body.access_token;
  }
}

/** A PKCS#8 PEM private key ("-----BEGIN PRIVATE KEY-----"), for RS256 signatures. */
async function importPkcs8(pem: string): Promise<CryptoKey> {
  const body = /-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/.exec(pem)?.[1];
  if (body === undefined) throw new Error('not a PKCS#8 PEM key');
  const der = Uint8Array.from(atob(body.replace(/\s+/g, '')), (char) => char.charCodeAt(0));
  return crypto.subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
}

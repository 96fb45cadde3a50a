/**
 * The pieces of a compact RS256 JWS that both Firebase token kinds (ID
 * tokens, App Check tokens) are checked with, strictly: base64url segments,
 * UTF-8 JSON objects without a byte-order mark, and the RSASSA-PKCS1-v1_5
 * SHA-256 signature over `header.payload`, verified with WebCrypto directly.
 *
 * @module
 */
import { bytesFromBase64Url } from '../base64url';

export const BASE64URL_SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * Firebase ID tokens, App Check tokens and Google's push tokens are about
 * 1 KB; anything far larger is not one and is refused before any parsing or
 * decoding.
 */
export const MAX_TOKEN_LENGTH = 8192;
const RS256 = { name: 'RSASSA-PKCS1-v1_5' } as const;
// ignoreBOM: true keeps a byte-order mark in the text, so JSON.parse refuses it, as firebase-admin does
// (the differential fuzzer found a BOM-prefixed segment accepted here and refused there).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

type JsonSegment = { ok: true; value: Record<string, unknown> } | { ok: false; reason: 'not JSON' | 'not a JSON object' };

/** A header or payload: base64url of a UTF-8 JSON object. */
export function decodeJsonSegment(segment: string): JsonSegment {
  let value: unknown;
  try {
    const bytes = bytesFromBase64Url(segment);
    if (bytes === undefined) throw new Error('base64url');
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, reason: 'not a JSON object' };
  return { ok: true, value: value as Record<string, unknown> };
}

/** Whether `signatureSegment` is a valid RS256 signature by `key` of the token's first two segments. */
export async function verifyRs256(key: CryptoKey, token: string, signedLength: number, signatureSegment: string): Promise<boolean> {
  const signature = bytesFromBase64Url(signatureSegment);
  if (signature === undefined || signature.length === 0) return false;
  return crypto.subtle.verify(RS256, key, signature, encoder.encode(token.slice(0, signedLength)));
}

/**
 * The `sub` a compact JWS claims, read without any check: only for work that
 * may start before verification and is used after it (src/registry/near-registry.ts).
 */
export function unverifiedSubject(token: string): string | undefined {
  const payload = token.split('.', 3)[1];
  if (payload === undefined || payload.length > MAX_TOKEN_LENGTH || !BASE64URL_SEGMENT.test(payload)) return undefined;
  const decoded = decodeJsonSegment(payload);
  return decoded.ok && typeof decoded.value.sub === 'string' ? decoded.value.sub : undefined;
}

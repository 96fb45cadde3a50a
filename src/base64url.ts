/**
 * Base64url without padding (RFC 7515 §2), for JWT segments.
 *
 * @module
 */

/** The base64url text of `bytes`, unpadded. */
export function base64UrlFromBytes(bytes: Uint8Array): string {
  // fromCharCode over the whole (small) array at once: a per-byte string concat showed in the hot-path profile.
  return btoa(String.fromCharCode.apply(null, bytes as unknown as number[]))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

const encoder = new TextEncoder();

/** The base64url text of a string's UTF-8 bytes, unpadded. */
export function base64UrlFromText(text: string): string {
  return base64UrlFromBytes(encoder.encode(text));
}

const ALPHABET = /^[A-Za-z0-9_-]*$/;

/** The bytes of a base64url segment, or undefined when it is not valid base64url. */
export function bytesFromBase64Url(segment: string): Uint8Array<ArrayBuffer> | undefined {
  // atob would skip whitespace and accept '+', '/' and '=': none of them is base64url.
  if (segment.length % 4 === 1 || !ALPHABET.test(segment)) return undefined;
  let binary: string;
  try {
    binary = atob(segment.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    return undefined;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Base64url without padding (RFC 7515 §2), for JWT segments. */
export function base64UrlFromBytes(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]!);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const encoder = new TextEncoder();

export function base64UrlFromText(text: string): string {
  return base64UrlFromBytes(encoder.encode(text));
}

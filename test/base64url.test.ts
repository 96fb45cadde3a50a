import { describe, expect, it } from 'vitest';
import { base64UrlFromBytes, base64UrlFromText, bytesFromBase64Url } from '../src/base64url';

describe('base64url', () => {
  it('encodes without padding and with the URL alphabet, and decodes back', () => {
    const bytes = new Uint8Array([0xfb, 0xff, 0xfe, 0x00, 0x01]);
    expect(base64UrlFromBytes(bytes)).toBe('-__-AAE');
    expect([...bytesFromBase64Url('-__-AAE')!]).toEqual([...bytes]);
    expect(base64UrlFromText('{"alg":"HS256","typ":"JWT"}')).toBe('eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9');
  });

  it('refuses what is not base64url', () => {
    for (const bad of ['a', 'ab!c', 'ab c', 'abcde']) expect(bytesFromBase64Url(bad), bad).toBeUndefined();
  });
});

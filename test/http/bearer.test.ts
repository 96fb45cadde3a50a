import { describe, expect, it } from 'vitest';
import { bearerCredentials } from '../../src/http/bearer';

describe('bearerCredentials', () => {
  it("reads one Bearer credential, whatever the scheme's case and the spaces around it", () => {
    expect(bearerCredentials('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerCredentials('bearer abc')).toBe('abc');
    expect(bearerCredentials('  BEARER   abc  ')).toBe('abc');
  });

  it('is undefined when there is no header, or a blank one', () => {
    for (const header of [null, undefined, '', '   ']) expect(bearerCredentials(header)).toBeUndefined();
  });

  it('is null for another scheme, a bare token, no credential, or more than one', () => {
    for (const header of ['abc', 'Basic abc', 'Token abc', 'Bearer', 'Bearer  ', 'Bearer a b', 'Bearer\tabc', 'Bearerabc']) {
      expect(bearerCredentials(header), header).toBeNull();
    }
  });
});

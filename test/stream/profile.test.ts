import { describe, expect, it } from 'vitest';
import type { FirebaseClaims } from '../../src/firebase/verify-id-token';
import { profileFromClaims, type StreamUserField } from '../../src/stream/profile';

const claims = (extra: Record<string, unknown>): FirebaseClaims => ({ sub: 'u', aud: 'p', iss: 'i', exp: 2, iat: 1, ...extra });
const fields = (...names: StreamUserField[]) => new Set(names);

describe('profileFromClaims', () => {
  it('copies name, picture as image, and email only when configured', () => {
    const c = claims({ name: ' Ada ', picture: 'https://img', email: 'ada@example.com' });
    expect(profileFromClaims(c, fields('name', 'image'))).toEqual({ name: 'Ada', image: 'https://img' });
    expect(profileFromClaims(c, fields('name', 'image', 'email'))).toEqual({ name: 'Ada', image: 'https://img', email: 'ada@example.com' });
  });

  it('ignores claims that are not non-empty strings and cuts long values', () => {
    expect(profileFromClaims(claims({ name: 42, picture: '  ' }), fields('name', 'image'))).toEqual({});
    expect(profileFromClaims(claims({ name: 'x'.repeat(5000) }), fields('name')).name).toHaveLength(1024);
  });
});

import { describe, expect, it } from 'vitest';
import { isServableUid, isTenantId, isValidStreamUserId, MAX_FIREBASE_UID_LENGTH } from '../src/user-id';

describe('user ids', () => {
  it('Stream accepts ASCII letters, digits, @, _ and - up to 255 characters', () => {
    for (const uid of ['a', 'Ab9@_-', 'x'.repeat(255)]) expect(isValidStreamUserId(uid)).toBe(true);
    for (const uid of ['', 'has space', 'ünï', 'a.b', 'a/b', 'x'.repeat(256), 'a\n']) expect(isValidStreamUserId(uid)).toBe(false);
  });

  it('a servable uid is also a possible Firebase uid (at most 128 characters) and a string', () => {
    expect(MAX_FIREBASE_UID_LENGTH).toBe(128);
    expect(isServableUid('x'.repeat(128))).toBe(true);
    expect(isServableUid('x'.repeat(129))).toBe(false);
    for (const value of [1, null, undefined, ['a'], { uid: 'a' }, 'has space']) expect(isServableUid(value)).toBe(false);
  });
});

describe('tenant ids', () => {
  it('are 1 to 128 letters, digits and hyphens', () => {
    expect(isTenantId('tenant-1a2b3')).toBe(true);
    expect(isTenantId('a'.repeat(128))).toBe(true);
    for (const tenant of ['', 'a'.repeat(129), 'a_b', 'a b', 'ä', 'a\n']) expect(isTenantId(tenant), tenant).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { isServableUid, isTenantId, isValidStreamUserId } from '../src/user-id';

describe('user ids', () => {
  it('serves uids that are both a possible Firebase uid (≤ 128) and a Stream user id', () => {
    expect(isServableUid('abc-DEF_1@x')).toBe(true);
    expect(isServableUid('a'.repeat(128))).toBe(true);
    expect(isServableUid('a'.repeat(129))).toBe(false); // Stream would take it; Firebase never issues it
    expect(isValidStreamUserId('a'.repeat(129))).toBe(true);
    for (const uid of ['', 'a b', 'é', 'a/b', 'a.b', 42, null]) expect(isServableUid(uid), String(uid)).toBe(false);
  });
});

describe('tenant ids', () => {
  it('are 1 to 128 letters, digits and hyphens', () => {
    expect(isTenantId('tenant-1a2b3')).toBe(true);
    expect(isTenantId('a'.repeat(128))).toBe(true);
    for (const tenant of ['', 'a'.repeat(129), 'a_b', 'a b', 'ä']) expect(isTenantId(tenant), tenant).toBe(false);
  });
});

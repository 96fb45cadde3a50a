import { describe, expect, it } from 'vitest';
import { ProfileCache } from '../../src/stream/profile-cache';

describe('ProfileCache', () => {
  it('knows a profile it wrote until the TTL ends, and only that exact profile', () => {
    let now = 1_000_000;
    const cache = new ProfileCache({ ttlSeconds: 60, now: () => now });
    expect(cache.isCurrent('u1', { name: 'Ada' })).toBe(false);
    cache.remember('u1', { name: 'Ada', image: 'https://img' });
    expect(cache.isCurrent('u1', { image: 'https://img', name: 'Ada' })).toBe(true); // field order does not matter
    expect(cache.isCurrent('u1', { name: 'Ada' })).toBe(false); // a removed photo is a change
    expect(cache.isCurrent('u2', { name: 'Ada', image: 'https://img' })).toBe(false);
    now += 59_999;
    expect(cache.isCurrent('u1', { name: 'Ada', image: 'https://img' })).toBe(true);
    now += 1;
    expect(cache.isCurrent('u1', { name: 'Ada', image: 'https://img' })).toBe(false);
  });

  it('remembers nothing with a TTL of 0', () => {
    const cache = new ProfileCache({ ttlSeconds: 0 });
    cache.remember('u1', { name: 'Ada' });
    expect(cache.isCurrent('u1', { name: 'Ada' })).toBe(false);
  });

  it('is bounded: the oldest-written entry goes first', () => {
    const cache = new ProfileCache({ ttlSeconds: 60, maxEntries: 2 });
    cache.remember('a', { name: 'A' });
    cache.remember('b', { name: 'B' });
    cache.remember('a', { name: 'A' }); // rewritten: now the newest
    cache.remember('c', { name: 'C' });
    expect(cache.isCurrent('b', { name: 'B' })).toBe(false);
    expect(cache.isCurrent('a', { name: 'A' })).toBe(true);
    expect(cache.isCurrent('c', { name: 'C' })).toBe(true);
  });
});

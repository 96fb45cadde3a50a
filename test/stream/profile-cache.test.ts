import { describe, expect, it } from 'vitest';
import { ProfileCache, profileHash } from '../../src/stream/profile-cache';

describe('ProfileCache', () => {
  it('knows a profile it wrote until the TTL ends, and only that exact profile', async () => {
    let now = 1_000_000;
    const cache = new ProfileCache({ ttlSeconds: 60, now: () => now });
    const written = await profileHash({ name: 'Ada', image: 'https://img' });
    expect(cache.isCurrent('u1', await profileHash({ name: 'Ada' }))).toBe(false);
    cache.remember('u1', written);
    expect(cache.isCurrent('u1', await profileHash({ image: 'https://img', name: 'Ada' }))).toBe(true); // field order does not matter
    expect(cache.isCurrent('u1', await profileHash({ name: 'Ada' }))).toBe(false); // a removed photo is a change
    expect(cache.isCurrent('u1', await profileHash({ name: 'Ada', image: 'https://img' }, { role: 'moderator' }))).toBe(false); // so is a role
    expect(cache.isCurrent('u2', written)).toBe(false);
    now += 59_999;
    expect(cache.isCurrent('u1', written)).toBe(true);
    now += 1;
    expect(cache.isCurrent('u1', written)).toBe(false);
  });

  it('keeps what it is given, the hash: 22 characters however long the fields', async () => {
    const long = { name: 'N'.repeat(1024), image: `https://img/${'i'.repeat(1000)}`, email: `${'e'.repeat(1000)}@x.example` };
    const hash = await profileHash(long, { teams: Array.from({ length: 50 }, (_, i) => `team-${i}`) });
    expect(hash).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const cache = new ProfileCache({ now: Date.now, ttlSeconds: 60 });
    cache.remember('u1', hash);
    expect(cache.isCurrent('u1', hash)).toBe(true);
    expect(cache.isCurrent('u1', await profileHash({ ...long, name: `${'N'.repeat(1023)}M` }))).toBe(false);
  });

  it('remembers nothing with a TTL of 0', async () => {
    const cache = new ProfileCache({ now: Date.now, ttlSeconds: 0 });
    const hash = await profileHash({ name: 'Ada' });
    cache.remember('u1', hash);
    expect(cache.isCurrent('u1', hash)).toBe(false);
  });

  it('is bounded: the oldest-written entry goes first', () => {
    const cache = new ProfileCache({ now: Date.now, ttlSeconds: 60, maxEntries: 2 });
    cache.remember('a', 'hash-a');
    cache.remember('b', 'hash-b');
    cache.remember('a', 'hash-a'); // rewritten: now the newest
    cache.remember('c', 'hash-c');
    expect(cache.isCurrent('b', 'hash-b')).toBe(false);
    expect(cache.isCurrent('a', 'hash-a')).toBe(true);
    expect(cache.isCurrent('c', 'hash-c')).toBe(true);
  });
});

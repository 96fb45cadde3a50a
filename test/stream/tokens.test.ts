import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { StreamTokenSigner, tokenTimes } from '../../src/stream/tokens';
import { oracleToken } from '../support/fixtures';

describe('Stream user tokens', () => {
  const cases: [string, string, number | undefined, number][] = [
    ['plain uid', 'user-1', 1_900_000_000, 1_899_996_400],
    ['uid with @ and _', 'a@b_c-D', 1_700_003_600, 1_700_000_000],
    ['no expiry', 'forever', undefined, 1_700_000_000],
    ['unicode secret', 'u', 1_700_000_100, 1_700_000_000],
  ];

  for (const [name, uid, exp, iat] of cases) {
    it(`is byte-identical to stream-chat createToken: ${name}`, async () => {
      const secret = name === 'unicode secret' ? 'sécret-✓-ключ' : `secret-${name}`;
      const ours = await new StreamTokenSigner(secret).userToken(uid, exp === undefined ? { iat } : { iat, exp });
      expect(ours).toBe(await oracleToken(secret, uid, exp, iat));
    });
  }

  it('verifies with the secret and carries user_id, exp and iat in that order', async () => {
    const token = await new StreamTokenSigner('s3cret').userToken('alice', tokenTimes(1_700_000_000_500, 3600));
    const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode('s3cret'), {
      currentDate: new Date(1_700_000_001_000),
    });
    expect(protectedHeader).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(Object.keys(payload)).toEqual(['user_id', 'exp', 'iat']);
    // iat one second back, as Stream's own Node SDK does; exp counts from it.
    expect(payload).toEqual({ user_id: 'alice', exp: 1_700_003_599, iat: 1_699_999_999 });
  });

  it('with TTL 0 has iat but no exp', () => {
    expect(tokenTimes(1_700_000_000_999, 0)).toEqual({ iat: 1_699_999_999 });
  });

  it('makes the same server token as the SDK expects: {"server":true}, no iat or exp', async () => {
    const token = await new StreamTokenSigner('s3cret').serverToken();
    const { payload } = await jwtVerify(token, new TextEncoder().encode('s3cret'));
    expect(payload).toEqual({ server: true });
  });
});

import { describe, expect, it } from 'vitest';
import { parseServiceAccountKey, ServiceAccountTokenSource } from '../../src/firebase/service-account';
import { Scenario } from '../support/fixtures';
import { makeServiceAccount } from '../support/reconcile';

describe('parseServiceAccountKey', () => {
  it('names what is wrong with a key file, never its content', () => {
    const secret = '-----BEGIN RSA PRIVATE KEY-----SECRETBYTES';
    const messageOf = (json: string) => {
      try {
        parseServiceAccountKey(json);
        return 'accepted';
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(messageOf('nope')).toMatch(/not JSON/);
    expect(messageOf('[]')).toMatch(/client_email/);
    expect(messageOf(JSON.stringify({ client_email: 'a@b' }))).toMatch(/private_key/);
    const pkcs1 = messageOf(JSON.stringify({ client_email: 'a@b', private_key: secret }));
    expect(pkcs1).toMatch(/PKCS#8/);
    expect(pkcs1).not.toContain('SECRETBYTES');
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n';
    expect(messageOf(JSON.stringify({ client_email: 'a@b', private_key: pem, token_uri: 'nope' }))).toMatch(/token_uri/);
    expect(parseServiceAccountKey(JSON.stringify({ client_email: 'a@b', private_key: pem })).token_uri).toBe(
      'https://oauth2.googleapis.com/token',
    );
    // The signed assertion never goes out in the clear; http only for a loopback stand-in.
    expect(messageOf(JSON.stringify({ client_email: 'a@b', private_key: pem, token_uri: 'http://oauth2.googleapis.com/token' }))).toMatch(
      /https/,
    );
    expect(
      parseServiceAccountKey(JSON.stringify({ client_email: 'a@b', private_key: pem, token_uri: 'http://127.0.0.1:9/token' })).token_uri,
    ).toBe('http://127.0.0.1:9/token');
  });
});

describe('ServiceAccountTokenSource', () => {
  it('gets an access token with a valid JWT-bearer assertion and reuses it until shortly before expiry', async () => {
    const scenario = await Scenario.create();
    const key = parseServiceAccountKey(await makeServiceAccount(scenario));
    let now = Date.now();
    const source = new ServiceAccountTokenSource(key, { now: () => now });
    const first = await source.accessToken();
    expect(first).toMatch(/^ya29\.test-/);
    expect(await source.accessToken()).toBe(first);
    expect((await scenario.googleAdminStats()).grants).toBe(1);
    now += 3599_000 - 5 * 60_000; // the stand-in's tokens live 3599 s; renewal starts 5 min before
    const second = await source.accessToken();
    expect(second).not.toBe(first);
    expect(await scenario.googleAdminStats()).toMatchObject({ grants: 2, rejectedAssertions: [] });
  });

  it('fails clearly when Google refuses the assertion', async () => {
    const scenario = await Scenario.create();
    const key = parseServiceAccountKey(await makeServiceAccount(scenario));
    const other = await Scenario.create(); // does not know this service account's public key
    const source = new ServiceAccountTokenSource({ ...key, token_uri: `${other.base}/oauth/token` }, { now: Date.now });
    await expect(source.accessToken()).rejects.toThrow(/HTTP 400/);
  });
});

import { beforeEach, describe, expect, it, vi } from 'vitest';
import { isLoopbackHost } from '../../src/firebase/emulator';
import { callWorker, Scenario, unsignedIdToken } from '../support/fixtures';

describe('isLoopbackHost', () => {
  it.each(['localhost', 'localhost:9099', '127.0.0.1', '127.0.0.1:9099', '127.255.0.9:80', '[::1]', '[::1]:9099', '::1', 'LOCALHOST'])(
    'accepts %s',
    (host) => expect(isLoopbackHost(host)).toBe(true),
  );
  it.each(['', 'example.com', 'localhost.example.com', '128.0.0.1', '127.0.0.256', '10.0.0.1:9099', '0.0.0.0', '[::2]', '127.0.0.1.nip.io'])(
    'refuses %s',
    (host) => expect(isLoopbackHost(host)).toBe(false),
  );
});

describe('emulator mode', () => {
  let scenario: Scenario;
  beforeEach(async () => {
    scenario = await Scenario.create();
    await scenario.setGoogle({ keys: [] });
  });

  const getToken = (env: ReturnType<Scenario['env']>, idToken: string, origin?: string) =>
    callWorker(env, '/v1/token', { idToken, origin });

  it('accepts the emulator\'s unsigned tokens for loopback requests when the emulator host is loopback', async () => {
    const response = await getToken(scenario.env({ FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099' }), unsignedIdToken('emu-user'), 'http://127.0.0.1:8787');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ user_id: 'emu-user' });
  });

  it('still checks every claim of an unsigned token', async () => {
    const env = scenario.env({ FIREBASE_AUTH_EMULATOR_HOST: 'localhost:9099' });
    const now = Math.floor(Date.now() / 1000);
    for (const claims of [{ aud: 'other-project' }, { iss: 'https://securetoken.google.com/other' }, { exp: now - 10 }, { sub: '' }, { iat: now + 600 }]) {
      expect((await getToken(env, unsignedIdToken('u', claims))).status).toBe(401);
    }
  });

  it('refuses unsigned tokens when the request did not arrive on loopback', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const env = scenario.env({ FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099' });
    const response = await getToken(env, unsignedIdToken('u'), 'https://tokens.example.com');
    errors.mockRestore();
    expect(response.status).toBe(401);
  });

  it('refuses unsigned tokens when the emulator host is not loopback, and logs it loudly', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const env = scenario.env({ FIREBASE_AUTH_EMULATOR_HOST: 'auth.example.com:9099' });
    const response = await getToken(env, unsignedIdToken('u'), 'http://localhost:8787');
    const logged = errors.mock.calls.map((args) => String(args[0])).join('\n');
    errors.mockRestore();
    expect(response.status).toBe(401);
    expect(logged).toContain('emulator_mode_refused');
  });

  it('refuses unsigned tokens when emulator mode is off', async () => {
    expect((await getToken(scenario.env(), unsignedIdToken('u'), 'http://localhost')).status).toBe(401);
  });

  it('refuses an alg none token that carries a signature', async () => {
    const env = scenario.env({ FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099' });
    expect((await getToken(env, `${unsignedIdToken('u')}c2ln`)).status).toBe(401);
  });
});

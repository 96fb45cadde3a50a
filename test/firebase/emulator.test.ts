import { beforeEach, describe, expect, it, vi } from 'vitest';
import { isLoopbackHost, isLoopbackOrigin } from '../../src/platform/loopback';
import { captureConsole } from '../support/console';
import { callWorker, Scenario, unsignedIdToken } from '../support/fixtures';

describe('isLoopbackHost', () => {
  it.each(['localhost', 'localhost:9099', '127.0.0.1', '127.0.0.1:9099', '127.255.0.9:80', '[::1]', '[::1]:9099', '::1', 'LOCALHOST'])(
    'accepts %s',
    (host) => expect(isLoopbackHost(host)).toBe(true),
  );
  it.each([
    '',
    'example.com',
    'localhost.example.com',
    '128.0.0.1',
    '127.0.0.256',
    '10.0.0.1:9099',
    '0.0.0.0',
    '[::2]',
    '127.0.0.1.nip.io',
  ])('refuses %s', (host) => expect(isLoopbackHost(host)).toBe(false));
});

describe('isLoopbackOrigin', () => {
  it.each(['http://localhost:5173', 'http://127.0.0.1', 'https://127.0.0.2:8443', 'http://[::1]:8080', 'http://LOCALHOST:3000'])(
    'accepts %s',
    (origin) => expect(isLoopbackOrigin(origin)).toBe(true),
  );
  it.each([
    'null',
    '',
    'https://evil.example',
    'http://localhost.evil.example',
    'http://127.0.0.1.nip.io',
    'file://',
    'chrome-extension://abc',
    'http://10.0.0.1',
  ])('refuses %s', (origin) => expect(isLoopbackOrigin(origin)).toBe(false));
});

describe('emulator mode serves only local pages', () => {
  it('refuses a request from any other browser origin with 403, nothing signed, whatever CORS_ALLOWED_ORIGINS says', async () => {
    const scenario = await Scenario.create();
    await scenario.setGoogle({ keys: [] });
    const env = scenario.env({ FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099', CORS_ALLOWED_ORIGINS: '*' });
    const log = captureConsole();
    try {
      for (const path of ['/v1/token', '/v1/users/me', '/v1/token/revoke', '/createStreamUserAndGetToken']) {
        const response = await callWorker(env, path, {
          idToken: unsignedIdToken('victim'),
          origin: 'http://127.0.0.1:8787',
          headers: { Origin: 'https://evil.example', 'Content-Type': 'application/json' },
          body: JSON.stringify({ data: null }),
        });
        expect(response.status, path).toBe(403);
        const text = await response.text();
        expect(text).not.toMatch(/eyJ/); // no token of any kind in the answer
        expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
      }
    } finally {
      log.restore();
    }
    expect(log.lines.some((line) => line.includes('emulator_origin_refused'))).toBe(true);
    expect(await scenario.streamRequests()).toEqual([]);
  });

  it('serves pages of this machine, and requests without Origin', async () => {
    const scenario = await Scenario.create();
    await scenario.setGoogle({ keys: [] });
    const env = scenario.env({ FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099', CORS_ALLOWED_ORIGINS: 'http://localhost:5173' });
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:3000', undefined]) {
      const response = await callWorker(env, '/v1/token', {
        idToken: unsignedIdToken('local-dev'),
        origin: 'http://127.0.0.1:8787',
        headers: origin ? { Origin: origin } : {},
      });
      expect(response.status, String(origin)).toBe(200);
    }
  });

  it('outside emulator mode an Origin changes nothing but CORS headers', async () => {
    const scenario = await Scenario.create();
    await scenario.setGoogle({ keys: [] });
    const response = await callWorker(scenario.env(), '/healthz', { method: 'GET', headers: { Origin: 'https://app.example.com' } });
    expect(response.status).toBe(200);
  });
});

describe('emulator mode', () => {
  let scenario: Scenario;
  beforeEach(async () => {
    scenario = await Scenario.create();
    await scenario.setGoogle({ keys: [] });
  });

  const getToken = (env: ReturnType<Scenario['env']>, idToken: string, origin?: string) =>
    callWorker(env, '/v1/token', { idToken, origin });

  it("accepts the emulator's unsigned tokens for loopback requests when the emulator host is loopback", async () => {
    const response = await getToken(
      scenario.env({ FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099' }),
      unsignedIdToken('emu-user'),
      'http://127.0.0.1:8787',
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ user_id: 'emu-user' });
  });

  it('still checks every claim of an unsigned token', async () => {
    const env = scenario.env({ FIREBASE_AUTH_EMULATOR_HOST: 'localhost:9099' });
    const now = Math.floor(Date.now() / 1000);
    for (const claims of [
      { aud: 'other-project' },
      { iss: 'https://securetoken.google.com/other' },
      { exp: now - 10 },
      { sub: '' },
      { iat: now + 600 },
    ]) {
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

  it('first fence: FIREBASE_AUTH_EMULATOR_HOST without ALLOW_AUTH_EMULATOR = "true" turns nothing on, even for loopback requests; /healthz says so', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      for (const allow of [undefined, 'false']) {
        const env = scenario.env({ FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099', ALLOW_AUTH_EMULATOR: allow });
        expect((await getToken(env, unsignedIdToken('u'), 'http://localhost')).status, String(allow)).toBe(401);
        expect((await getToken(env, unsignedIdToken('u'), 'http://127.0.0.1:8787')).status, String(allow)).toBe(401);
        const health = await callWorker(env, '/healthz', { method: 'GET' });
        expect(health.status).toBe(200);
        expect(await health.json()).toEqual({
          status: 'ok',
          warnings: [
            expect.stringMatching(/FIREBASE_AUTH_EMULATOR_HOST is set without ALLOW_AUTH_EMULATOR = "true"; emulator mode is OFF/),
          ],
        });
      }
      // Any other spelling of the switch is a setting to fix, named by /healthz.
      const typo = await callWorker(
        scenario.env({ FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099', ALLOW_AUTH_EMULATOR: 'TRUE' }),
        '/healthz',
        { method: 'GET' },
      );
      expect([typo.status, await typo.json()]).toEqual([503, { status: 'misconfigured', settings: ['ALLOW_AUTH_EMULATOR'] }]);
    } finally {
      errors.mockRestore();
    }
  });

  it('second fence: with the switch on, a request that did not arrive on a loopback host is still refused', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const env = scenario.env({ FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099', ALLOW_AUTH_EMULATOR: 'true' });
    const remote = await getToken(env, unsignedIdToken('u'), 'https://tokens.example.com');
    const local = await getToken(env, unsignedIdToken('u'), 'http://localhost');
    errors.mockRestore();
    expect([remote.status, local.status]).toEqual([401, 200]);
  });

  it('refuses unsigned tokens when emulator mode is off', async () => {
    expect((await getToken(scenario.env(), unsignedIdToken('u'), 'http://localhost')).status).toBe(401);
  });

  it('refuses an alg none token that carries a signature', async () => {
    const env = scenario.env({ FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099' });
    expect((await getToken(env, `${unsignedIdToken('u')}c2ln`)).status).toBe(401);
  });
});

import { env as baseEnv } from 'cloudflare:workers';
import { jwtVerify } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  callable,
  callWorker,
  decodePayload,
  makeSigningKey,
  mintIdToken,
  Scenario,
  STREAM_API_KEY,
  type SigningKey,
} from '../support/fixtures';
import { captureConsole, expectLogged } from '../support/console';

let scenario: Scenario;
let key: SigningKey;

beforeEach(async () => {
  scenario = await Scenario.create();
  key = await makeSigningKey();
  await scenario.setGoogle({ keys: [key] });
});

const profileClaims = { name: 'Ada Lovelace', picture: 'https://img.example/ada.png', email: 'ada@example.com' };

async function verifyStreamToken(token: string) {
  return (await jwtVerify(token, new TextEncoder().encode(scenario.streamSecret), { algorithms: ['HS256'] })).payload;
}

describe('callable protocol (drop-in for the Cloud Functions)', () => {
  it('createStreamUserAndGetToken creates the Stream user from the claims and returns a token', async () => {
    const idToken = await mintIdToken(key, 'ada', { claims: profileClaims });
    const response = await callable(scenario.env(), 'createStreamUserAndGetToken', idToken);
    expect(response.status).toBe(200);
    const { result } = (await response.json()) as { result: string };
    expect(await verifyStreamToken(result)).toMatchObject({ user_id: 'ada' });

    const { users } = await scenario.streamUsers();
    expect(users).toEqual([expect.objectContaining({ id: 'ada', name: 'Ada Lovelace', image: 'https://img.example/ada.png' })]);
    expect(users[0]).not.toHaveProperty('email'); // email is opt-in
  });

  it('copies email only when STREAM_USER_FIELDS lists it', async () => {
    const idToken = await mintIdToken(key, 'ada', { claims: profileClaims });
    await callable(scenario.env({ STREAM_USER_FIELDS: 'name,image,email' }), 'createStreamUserAndGetToken', idToken);
    const { users } = await scenario.streamUsers();
    expect(users[0]).toMatchObject({ email: 'ada@example.com' });
  });

  it('updates an existing user without losing its role, teams or custom data', async () => {
    await scenario.seedStreamUsers([
      { id: 'ada', name: 'Old name', image: 'https://old', role: 'moderator', teams: ['blue'], favourite_colour: 'green' },
    ]);
    const idToken = await mintIdToken(key, 'ada', { claims: { name: 'Ada Lovelace' } });
    const response = await callable(scenario.env(), 'createStreamUserAndGetToken', idToken);
    expect(response.status).toBe(200);

    const { users } = await scenario.streamUsers();
    expect(users[0]).toMatchObject({ id: 'ada', name: 'Ada Lovelace', role: 'moderator', teams: ['blue'], favourite_colour: 'green' });
    expect(users[0]).not.toHaveProperty('image'); // the photo was removed from the Firebase profile
    const methods = (await scenario.streamRequests()).map((r) => `${r.method} ${r.path}`);
    expect(methods).toEqual(['GET /users', 'PATCH /users']); // found by the query, then never the full-replace upsert
  });

  it('skips Stream on a repeat create with an unchanged profile, and calls it when the profile changes', async () => {
    const env = scenario.env();
    const first = await mintIdToken(key, 'ada', { claims: { name: 'Ada' } });
    for (let i = 0; i < 3; i++) expect((await callable(env, 'createStreamUserAndGetToken', first)).status).toBe(200);
    const afterSame = (await scenario.streamRequests()).length;
    expect(afterSame).toBe(2); // query (not found) → upsert, once

    const renamed = await mintIdToken(key, 'ada', { claims: { name: 'Ada Lovelace' } });
    expect((await callable(env, 'createStreamUserAndGetToken', renamed)).status).toBe(200);
    expect((await scenario.streamRequests()).slice(afterSame).map((r) => r.method)).toEqual(['GET', 'PATCH']);
    expect((await scenario.streamUsers()).users[0]).toMatchObject({ name: 'Ada Lovelace' });
  });

  it('calls Stream on every create when STREAM_PROFILE_CACHE_SECONDS is 0', async () => {
    const env = scenario.env({ STREAM_PROFILE_CACHE_SECONDS: '0' });
    const idToken = await mintIdToken(key, 'ada', { claims: { name: 'Ada' } });
    await callable(env, 'createStreamUserAndGetToken', idToken);
    await callable(env, 'createStreamUserAndGetToken', idToken);
    expect((await scenario.streamRequests()).map((r) => r.method)).toEqual(['GET', 'POST', 'GET', 'PATCH']);
  });

  it('getStreamUserToken returns a token without calling Stream', async () => {
    const idToken = await mintIdToken(key, 'bob');
    const response = await callable(scenario.env(), 'getStreamUserToken', idToken);
    const { result } = (await response.json()) as { result: string };
    const payload = await verifyStreamToken(result);
    expect(payload.user_id).toBe('bob');
    expect(payload.exp).toBe((payload.iat as number) + 3600);
    expect(await scenario.streamRequests()).toEqual([]);
  });

  it('revokeStreamUserToken revokes, and a token issued afterwards is newer than the revocation second', async () => {
    await scenario.seedStreamUsers([{ id: 'bob' }]);
    const idToken = await mintIdToken(key, 'bob');
    const response = await callable(scenario.env(), 'revokeStreamUserToken', idToken);
    expect(response.status).toBe(200);
    const { result } = (await response.json()) as { result: { revoked_before: string } };
    const revokedAt = Date.parse(result.revoked_before);
    expect(Math.abs(revokedAt - Date.now())).toBeLessThan(5000);

    const [request] = await scenario.streamRequests();
    expect(request).toMatchObject({
      method: 'PATCH',
      path: '/users',
      body: { users: [{ id: 'bob', set: { revoke_tokens_issued_before: result.revoked_before } }] },
    });

    const fresh = (await (await callable(scenario.env(), 'getStreamUserToken', idToken)).json()) as { result: string };
    expect(decodePayload(fresh.result).iat as number).toBeGreaterThan(Math.floor(revokedAt / 1000));
  });

  it('answers a Stream failure with ABORTED and issues no token', async () => {
    const failure = { status: 500, body: { code: -1, message: 'internal', StatusCode: 500 } };
    await scenario.scriptStream([failure, failure, failure]);
    const idToken = await mintIdToken(key, 'ada');
    const response = await callable(scenario.env(), 'createStreamUserAndGetToken', idToken);
    expect(response.status).toBe(409);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({ error: { status: 'ABORTED', message: expect.stringContaining('Stream request failed') } });
    expect(body).not.toHaveProperty('result');
    expectLogged('stream_call_retry', 'stream_call_failed', 'request_failed');
  });

  it('accepts and ignores the headers Firebase clients send', async () => {
    const idToken = await mintIdToken(key, 'ada');
    const response = await callWorker(scenario.env(), '/getStreamUserToken', {
      idToken,
      headers: { 'Content-Type': 'application/json; charset=utf-8', 'Firebase-Instance-ID-Token': 'x', 'X-Firebase-AppCheck': 'y' },
      body: JSON.stringify({ data: { anything: true } }),
    });
    expect(response.status).toBe(200);
  });

  it.each([
    ['a non-JSON content type', { 'Content-Type': 'text/plain' }, '{"data":null}'],
    ['invalid JSON', { 'Content-Type': 'application/json' }, '{"data":'],
    ['no data field', { 'Content-Type': 'application/json' }, '{"other":1}'],
    ['an array body', { 'Content-Type': 'application/json' }, '[]'],
  ])('answers %s with INVALID_ARGUMENT 400', async (_name, headers, body) => {
    const idToken = await mintIdToken(key, 'ada');
    const response = await callWorker(scenario.env(), '/createStreamUserAndGetToken', { idToken, headers, body });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: { status: 'INVALID_ARGUMENT', message: expect.any(String) } });
    expect(await scenario.streamRequests()).toEqual([]);
  });

  it('refuses a body with fields besides "data" with INVALID_ARGUMENT 400, as the protocol does', async () => {
    const idToken = await mintIdToken(key, 'ada');
    for (const body of ['{"data":null,"extra":1}', '{"data":{},"context":{"auth":{"uid":"admin"}}}']) {
      const response = await callWorker(scenario.env(), '/getStreamUserToken', {
        idToken,
        headers: { 'Content-Type': 'application/json' },
        body,
      });
      expect(response.status, body).toBe(400);
      expect(await response.json()).toEqual({ error: { status: 'INVALID_ARGUMENT', message: expect.any(String) } });
    }
  });

  it('streams when asked (Accept: text/event-stream): one event with the result, or with the error, HTTP 200 as firebase-functions v2', async () => {
    const stream = { Accept: 'text/event-stream' };
    const ok = await callable(scenario.env(), 'getStreamUserToken', await mintIdToken(key, 'ada'), null, stream);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('Content-Type')).toBe('text/event-stream');
    expect(ok.headers.get('Cache-Control')).toBe('no-store');
    const text = await ok.text();
    expect(text).toMatch(/^data: \{"result":"[\w-]+\.[\w-]+\.[\w-]+"\}\n\n$/);
    expect(decodePayload((JSON.parse(text.slice(6)) as { result: string }).result).user_id).toBe('ada');

    const refused = await callable(scenario.env(), 'getStreamUserToken/', 'not-a-token', null, stream);
    expect(refused.status).toBe(200);
    expect(refused.headers.get('Content-Type')).toBe('text/event-stream');
    expect(await refused.text()).toMatch(/^data: \{"error":\{"status":"UNAUTHENTICATED","message":"[^"]*"\}\}\n\n$/);

    const extra = await callWorker(scenario.env(), '/getStreamUserToken', {
      headers: { 'Content-Type': 'application/json', ...stream },
      body: '{"data":null,"x":1}',
    });
    expect(await extra.text()).toContain('"INVALID_ARGUMENT"');
    // REST never streams, and a GET is no call: its 405 stays plain JSON.
    const rest = await callWorker(scenario.env(), '/v1/token', { idToken: await mintIdToken(key, 'ada'), headers: stream });
    expect(rest.headers.get('Content-Type')).toBe('application/json');
    const get = await callWorker(scenario.env(), '/getStreamUserToken', { method: 'GET', headers: stream });
    expect(get.status).toBe(405);
    expect(await get.json()).toMatchObject({ error: { status: 'INVALID_ARGUMENT' } });
  });

  it('answers a callable path with a trailing slash in the callable format, errors included; REST paths stay REST', async () => {
    for (const path of [
      '/createStreamUserAndGetToken/',
      '/getStreamUserToken/',
      '/revokeStreamUserToken/',
      '/deleteStreamUser/',
      '/ext-auth-chat-getStreamUserToken/',
      '/ext-auth-chat-revokeStreamUserToken/',
    ]) {
      const response = await callWorker(scenario.env(), path, { headers: { 'Content-Type': 'application/json' }, body: '{"data":null}' });
      expect(response.status, path).toBe(400);
      expect(await response.json(), path).toEqual({ error: { status: 'FAILED_PRECONDITION', message: expect.any(String) } });
    }
    const failure = { status: 500, body: { code: -1, message: 'internal' } };
    await scenario.scriptStream([failure, failure, failure]);
    const aborted = await callable(scenario.env(), 'createStreamUserAndGetToken/', await mintIdToken(key, 'ada'));
    expect(aborted.status).toBe(409);
    expect(await aborted.json()).toMatchObject({ error: { status: 'ABORTED' } });
    expectLogged('stream_call_retry', 'stream_call_failed', 'request_failed');
    const rest = await callWorker(scenario.env(), '/v1/token/');
    expect(rest.headers.get('Content-Type')).toBe('application/problem+json');
  });

  it('answers a uid Stream cannot accept with FAILED_PRECONDITION and no Stream call', async () => {
    const idToken = await mintIdToken(key, 'custom:uid.with/dots');
    const response = await callable(scenario.env(), 'createStreamUserAndGetToken', idToken);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { status: string } }).error.status).toBe('FAILED_PRECONDITION');
    expect(await scenario.streamRequests()).toEqual([]);
  });
});

describe('REST interface', () => {
  it('POST /v1/users/me creates the user and returns token, user_id, api_key, expires_at', async () => {
    const idToken = await mintIdToken(key, 'ada', { claims: profileClaims });
    const response = await callWorker(scenario.env(), '/v1/users/me', { idToken });
    expect(response.status).toBe(200);
    expect(response.headers.get('Cache-Control')).toBe('no-store');
    const body = (await response.json()) as { token: string; user_id: string; api_key: string; expires_at: string };
    const payload = await verifyStreamToken(body.token);
    expect(body).toMatchObject({ user_id: 'ada', api_key: STREAM_API_KEY });
    expect(Date.parse(body.expires_at)).toBe((payload.exp as number) * 1000);
    expect((await scenario.streamUsers()).users.map((u) => u.id)).toEqual(['ada']);
    // The user as written to Stream, for connectUser (no email: Stream users are visible to other chat users).
    expect((body as unknown as { user: unknown }).user).toEqual({ id: 'ada', name: 'Ada Lovelace', image: 'https://img.example/ada.png' });
    // Dated one second back, as Stream's own Node SDK does, so Stream never sees an iat ahead of its clock.
    expect(payload.iat as number).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) - 1);
  });

  it('POST /v1/token makes no Stream call; TTL 0 gives a token without exp and expires_at null', async () => {
    const idToken = await mintIdToken(key, 'ada');
    const response = await callWorker(scenario.env({ STREAM_TOKEN_TTL_SECONDS: '0' }), '/v1/token', { idToken });
    const body = (await response.json()) as { token: string; expires_at: null };
    expect(body.expires_at).toBeNull();
    const payload = await verifyStreamToken(body.token);
    expect(Object.keys(payload)).toEqual(['user_id', 'iat']);
    expect(await scenario.streamRequests()).toEqual([]);
  });

  it('POST /v1/token/revoke answers revoked_before', async () => {
    await scenario.seedStreamUsers([{ id: 'ada' }]);
    const response = await callWorker(scenario.env(), '/v1/token/revoke', { idToken: await mintIdToken(key, 'ada') });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ revoked_before: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) });
  });

  it('answers a persistent Stream failure with a 502 problem and no token', async () => {
    const failure = { status: 503, rawBody: 'upstream unavailable' };
    await scenario.scriptStream([failure, failure, failure]);
    const response = await callWorker(scenario.env(), '/v1/users/me', { idToken: await mintIdToken(key, 'ada') });
    expect(response.status).toBe(502);
    expect(response.headers.get('Content-Type')).toBe('application/problem+json');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 502, code: 'stream_failed' });
    expect(body).not.toHaveProperty('token');
    expectLogged('stream_call_retry', 'stream_call_failed', 'request_failed');
  });

  it('answers an unknown path with a JSON 404 and a wrong method with a JSON 405 naming the allowed one', async () => {
    const notFound = await callWorker(scenario.env(), '/v1/nope', { method: 'GET' });
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toMatchObject({ status: 404, code: 'not_found' });

    const wrongMethod = await callWorker(scenario.env(), '/v1/token', { method: 'GET' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('Allow')).toBe('POST');
    expect(await wrongMethod.json()).toMatchObject({ status: 405, code: 'method_not_allowed' });

    for (const method of ['GET', 'PUT', 'DELETE']) {
      for (const path of ['/getStreamUserToken', '/getStreamUserToken/']) {
        const callableWrongMethod = await callWorker(scenario.env(), path, { method });
        expect(callableWrongMethod.status, `${method} ${path}`).toBe(405);
        expect(callableWrongMethod.headers.get('Allow')).toBe('POST');
        expect(await callableWrongMethod.json()).toMatchObject({ error: { status: 'INVALID_ARGUMENT' } });
      }
    }
  });

  it('answers a body over 64 KiB with 413 on both protocols, without verifying anything', async () => {
    const idToken = await mintIdToken(key, 'ada');
    const big = JSON.stringify({ data: 'x'.repeat(64 * 1024) });
    const rest = await callWorker(scenario.env(), '/v1/token', { idToken, headers: { 'Content-Type': 'application/json' }, body: big });
    expect(rest.status).toBe(413);
    expect(await rest.json()).toMatchObject({ status: 413, code: 'payload_too_large' });
    const call = await callWorker(scenario.env(), '/getStreamUserToken', {
      idToken,
      headers: { 'Content-Type': 'application/json' },
      body: big,
    });
    expect(call.status).toBe(413);
    expect(await call.json()).toMatchObject({ error: { status: 'INVALID_ARGUMENT' } });

    // Declared too large: refused on the header alone.
    const declared = await callWorker(scenario.env(), '/v1/token', {
      idToken,
      headers: { 'Content-Length': String(70 * 1024) },
      body: 'x'.repeat(70 * 1024),
    });
    expect(declared.status).toBe(413);

    // Streamed without a length: counted while read.
    const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 5; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const streamed = await callWorker(scenario.env(), '/getStreamUserToken', {
      idToken,
      headers: { 'Content-Type': 'application/json' },
      body: stream,
    });
    expect(streamed.status).toBe(413);
    expect(await scenario.streamRequests()).toEqual([]);
  });

  it('GET /healthz answers ok, and names (never shows) a missing setting', async () => {
    const ok = await callWorker(scenario.env(), '/healthz', { method: 'GET' });
    expect(await ok.json()).toEqual({ status: 'ok' });

    const broken = scenario.env({ STREAM_API_SECRET: '' });
    const health = await callWorker(broken, '/healthz', { method: 'GET' });
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'misconfigured', settings: ['STREAM_API_SECRET'] });
    const token = await callWorker(broken, '/v1/token', { idToken: await mintIdToken(key, 'ada') });
    expect(token.status).toBe(500);
    // Nothing a client can fix, but whoever runs the Worker is told where to look; no setting's value.
    expect(await token.json()).toMatchObject({
      title: 'Service misconfigured',
      code: 'misconfigured',
      detail: expect.stringContaining('GET /healthz'),
    });
    const viaCallable = await callable(broken, 'getStreamUserToken', await mintIdToken(key, 'ada'));
    expect([viaCallable.status, await viaCallable.json()]).toEqual([
      500,
      { error: { status: 'INTERNAL', message: expect.stringContaining('GET /healthz') } },
    ]);
    expectLogged('invalid_config');
    // A streaming callable gets its error as the event the SDKs read.
    const log = captureConsole();
    const streamed = await callable(broken, 'getStreamUserToken/', await mintIdToken(key, 'ada'), null, {
      Accept: 'text/event-stream',
    }).finally(log.restore);
    expect(await streamed.text()).toMatch(/^data: \{"error":\{"status":"INTERNAL",/);
  });

  it('GET / names the routes and the docs instead of a bare 404; other methods are 405', async () => {
    const index = await callWorker(scenario.env(), '/', { method: 'GET' });
    expect(index.status).toBe(200);
    const body = (await index.json()) as { routes: { rest: string[]; callable: string[]; health: string }; docs: string[] };
    expect(body.routes.rest).toContain('POST /v1/token');
    expect(body.routes.callable).toContain('POST /getStreamUserToken');
    expect(body.routes.health).toBe('GET /healthz');
    expect(body.docs).toContain('docs/http-api.md');
    expect(JSON.stringify(body)).not.toContain('/v1/admin');
    expect((await callWorker(scenario.env(), '/', { method: 'POST' })).status).toBe(405);
  });

  it("wrangler.toml's placeholders against the real Google and Stream: misconfigured, named by /healthz; against stand-ins: ok", async () => {
    const placeholders = { FIREBASE_PROJECT_ID: 'demo-stream-token-edge', STREAM_API_KEY: 'localdevkey' };
    const real = scenario.env({ ...placeholders, FIREBASE_JWKS_URL: undefined, STREAM_BASE_URL: undefined });
    const health = await callWorker(real, '/healthz', { method: 'GET' });
    expect([health.status, await health.json()]).toEqual([
      503,
      { status: 'misconfigured', settings: ['FIREBASE_PROJECT_ID', 'STREAM_API_KEY'] },
    ]);
    const standIns = await callWorker(scenario.env(placeholders), '/healthz', { method: 'GET' });
    expect([standIns.status, await standIns.json()]).toEqual([200, { status: 'ok' }]);
    expectLogged('invalid_config');
  });

  it('TTL 0 with FIREBASE_ANONYMOUS=token-only: misconfigured, both settings named', async () => {
    const health = await callWorker(scenario.env({ STREAM_TOKEN_TTL_SECONDS: '0', FIREBASE_ANONYMOUS: 'token-only' }), '/healthz', {
      method: 'GET',
    });
    expect([health.status, await health.json()]).toEqual([
      503,
      { status: 'misconfigured', settings: ['STREAM_TOKEN_TTL_SECONDS', 'FIREBASE_ANONYMOUS'] },
    ]);
    expectLogged('invalid_config');
  });

  it('a token of another project: the answer names the project expected and the one the token is from', async () => {
    const response = await callWorker(scenario.env(), '/v1/token', {
      idToken: await mintIdToken(key, 'ada', { claims: { iss: 'https://securetoken.google.com/my-real-app', aud: 'my-real-app' } }),
    });
    expect(response.status).toBe(401);
    const { detail } = (await response.json()) as { detail: string };
    expect(detail).toContain('expects project "demo-test-project"');
    expect(detail).toContain('from project "my-real-app"');
    const odd = await callWorker(scenario.env(), '/v1/token', {
      idToken: await mintIdToken(key, 'ada', { claims: { iss: 'https://evil.example/<script>' } }),
    });
    const oddDetail = ((await odd.json()) as { detail: string }).detail;
    expect(oddDetail).toContain('an issuer that is not a Firebase project');
    expect(oddDetail).not.toContain('evil');
  });
});

describe('CORS', () => {
  const preflight = (origin: string) => ({
    method: 'OPTIONS',
    headers: {
      Origin: origin,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization,content-type,firebase-instance-id-token,x-firebase-appcheck',
    },
  });

  it('sends no CORS headers by default', async () => {
    const log = captureConsole();
    try {
      const response = await callWorker(scenario.env(), '/v1/token', preflight('https://app.example.com'));
      expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
    } finally {
      log.restore();
    }
  });

  it('a preflight from an unlisted origin: 204 without Access-Control-Allow-Origin, and one log line naming the origin', async () => {
    for (const env of [scenario.env(), scenario.env({ CORS_ALLOWED_ORIGINS: 'https://app.example.com' })]) {
      for (const path of ['/getStreamUserToken', '/v1/token']) {
        const log = captureConsole();
        let response: Response;
        try {
          response = await callWorker(env, path, preflight('https://unlisted.example'));
        } finally {
          log.restore();
        }
        expect(response.status, path).toBe(204);
        expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
        expect(response.headers.get('Access-Control-Allow-Methods')).toBeNull();
        expect(log.lines).toHaveLength(1);
        expect(JSON.parse(log.lines[0]!)).toMatchObject({ event: 'cors_origin_refused', origin: 'https://unlisted.example' });
      }
    }
    // A listed origin is no refusal, and an OPTIONS that is no preflight is still a wrong method.
    const log = captureConsole();
    try {
      // The origin is the caller's text: bounded in the log line.
      await callWorker(scenario.env(), '/v1/token', preflight(`https://${'a'.repeat(5000)}.example`));
      expect(log.lines).toHaveLength(1);
      expect(log.lines[0]!.length).toBeLessThan(600);
      log.lines.length = 0;
      const listed = await callWorker(
        scenario.env({ CORS_ALLOWED_ORIGINS: 'https://app.example.com' }),
        '/v1/token',
        preflight('https://app.example.com'),
      );
      expect(listed.headers.get('Access-Control-Allow-Origin')).toBe('https://app.example.com');
      expect((await callWorker(scenario.env(), '/v1/token', { method: 'OPTIONS' })).status).toBe(405);
      expect(log.lines.filter((line) => line.includes('cors_origin_refused'))).toEqual([]);
    } finally {
      log.restore();
    }
  });

  it('allows listed origins, with the headers Firebase callable clients send', async () => {
    const env = scenario.env({ CORS_ALLOWED_ORIGINS: 'https://app.example.com, http://localhost:5173' });
    const response = await callWorker(env, '/getStreamUserToken', preflight('https://app.example.com'));
    expect(response.status).toBe(204);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe('https://app.example.com');
    const allowed = (response.headers.get('Access-Control-Allow-Headers') ?? '').toLowerCase();
    for (const header of ['authorization', 'content-type', 'firebase-instance-id-token', 'x-firebase-appcheck']) {
      expect(allowed).toContain(header);
    }
    const log = captureConsole();
    const other = await callWorker(env, '/getStreamUserToken', preflight('https://evil.example')).finally(log.restore);
    expect(other.headers.get('Access-Control-Allow-Origin')).toBeNull();
    // A page must be able to read Retry-After on a 429 or 503 (not a CORS-safelisted response header).
    const refused = await callWorker(env, '/v1/token', { headers: { Origin: 'https://app.example.com' } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('Access-Control-Expose-Headers')).toContain('Retry-After');

    const actual = await callWorker(env, '/v1/token', {
      idToken: await mintIdToken(key, 'ada'),
      headers: { Origin: 'http://localhost:5173' },
    });
    expect(actual.headers.get('Access-Control-Allow-Origin')).toBe('http://localhost:5173');
  });

  it('allows any origin with "*"', async () => {
    const response = await callWorker(scenario.env({ CORS_ALLOWED_ORIGINS: '*' }), '/v1/token', preflight('https://x.example'));
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe('*');
  });
});

describe('what the mutation run found no test for', () => {
  it('every error answer is Cache-Control: no-store, on both protocols', async () => {
    const env = scenario.env();
    const idToken = await mintIdToken(key, 'ada');
    const cases: [string, () => Promise<Response>][] = [
      ['401 REST', () => callWorker(env, '/v1/token', { idToken: 'not-a-token' })],
      ['401 callable', () => callable(env, 'getStreamUserToken', 'not-a-token')],
      ['413 REST', () => callWorker(env, '/v1/token', { idToken, body: 'x'.repeat(70_000) })],
      [
        '413 callable',
        () =>
          callWorker(env, '/getStreamUserToken', { idToken, headers: { 'Content-Type': 'application/json' }, body: 'x'.repeat(70_000) }),
      ],
      ['404', () => callWorker(env, '/nope')],
    ];
    for (const [label, send] of cases) {
      const response = await send();
      expect(response.status, label).toBeGreaterThanOrEqual(400);
      expect(response.headers.get('Cache-Control'), label).toBe('no-store');
    }
    const failure = { status: 500, body: { code: -1, message: 'boom' } };
    for (const [label, send] of [
      ['502 REST', () => callWorker(env, '/v1/users/me', { idToken })],
      ['409 callable', () => callable(env, 'createStreamUserAndGetToken', idToken)],
    ] as const) {
      await scenario.scriptStream([failure, failure, failure]);
      const response = await send();
      expect(response.status, label).toBe(label.startsWith('502') ? 502 : 409);
      expect(response.headers.get('Cache-Control'), label).toBe('no-store');
    }
    const down = await Scenario.create();
    await down.setGoogle({ keys: [], down: true });
    const log = captureConsole();
    try {
      for (const response of [
        await callWorker(down.env(), '/v1/token', { idToken }),
        await callable(down.env(), 'getStreamUserToken', idToken),
      ]) {
        expect(response.status).toBe(503);
        expect(response.headers.get('Cache-Control')).toBe('no-store');
      }
    } finally {
      log.restore();
    }
    expectLogged('stream_call_retry', 'stream_call_failed', 'request_failed');
  });

  it('refuses a bare ID token sent without the Bearer scheme', async () => {
    const idToken = await mintIdToken(key, 'ada');
    for (const authorization of [idToken, `Basic ${idToken}`, `Bearer`, `Bearer  `, `Token ${idToken}`]) {
      const response = await callWorker(scenario.env(), '/v1/token', { headers: { Authorization: authorization } });
      expect(response.status, authorization.slice(0, 12)).toBe(401);
      expect(await response.text()).not.toContain(idToken.slice(-20));
    }
  });

  it('registers token-only users (token and revoke routes, both protocols) for reconciliation', async () => {
    const env = scenario.env({ DB: baseEnv.DB });
    const calls: [string, () => Promise<Response>][] = [
      ['rest-token', async () => callWorker(env, '/v1/token', { idToken: await mintIdToken(key, 'rest-token') })],
      ['callable-token', async () => callable(env, 'getStreamUserToken', await mintIdToken(key, 'callable-token'))],
      ['rest-revoke', async () => callWorker(env, '/v1/token/revoke', { idToken: await mintIdToken(key, 'rest-revoke') })],
      ['callable-revoke', async () => callable(env, 'revokeStreamUserToken', await mintIdToken(key, 'callable-revoke'))],
    ];
    await scenario.seedStreamUsers([{ id: 'rest-revoke' }, { id: 'callable-revoke' }]);
    for (const [uid, send] of calls) {
      expect((await send()).status, uid).toBe(200);
      const row = await baseEnv.DB.prepare('SELECT state FROM stream_users WHERE uid = ?1').bind(uid).first<{ state: string }>();
      expect(row, uid).toEqual({ state: 'active' });
    }
  });
});

describe("Stream's Firebase extension names", () => {
  it('serves ext-auth-chat-getStreamUserToken and ext-auth-chat-revokeStreamUserToken as the callables they alias', async () => {
    const env = scenario.env();
    await scenario.seedStreamUsers([{ id: 'ext-user' }]);
    const idToken = await mintIdToken(key, 'ext-user');
    const token = await callable(env, 'ext-auth-chat-getStreamUserToken', idToken);
    expect(token.status).toBe(200);
    expect(await verifyStreamToken(((await token.json()) as { result: string }).result)).toMatchObject({ user_id: 'ext-user' });
    const revoke = await callable(env, 'ext-auth-chat-revokeStreamUserToken', idToken);
    expect(await revoke.json()).toEqual({ result: { revoked_before: expect.stringMatching(/^\d{4}-/) } });
    // Errors come in the callable format too.
    const bad = await callable(env, 'ext-auth-chat-getStreamUserToken', 'not-a-token');
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: { status: 'UNAUTHENTICATED' } });
  });
});

describe('revoke for users who only ever fetched tokens', () => {
  for (const [route, revoke] of [
    ['POST /v1/token/revoke', (env: ReturnType<Scenario['env']>, idToken: string) => callWorker(env, '/v1/token/revoke', { idToken })],
    ['revokeStreamUserToken', (env: ReturnType<Scenario['env']>, idToken: string) => callable(env, 'revokeStreamUserToken', idToken)],
    [
      'ext-auth-chat-revokeStreamUserToken',
      (env: ReturnType<Scenario['env']>, idToken: string) => callable(env, 'ext-auth-chat-revokeStreamUserToken', idToken),
    ],
  ] as const) {
    it(`${route}: answers as for any revoke, and Stream has the user with the revocation`, async () => {
      const env = scenario.env({ DB: baseEnv.DB });
      const uid = `token-only-${crypto.randomUUID().slice(0, 8)}`;
      const idToken = await mintIdToken(key, uid, { claims: { name: 'Tess' } });
      expect((await callable(env, 'getStreamUserToken', idToken)).status).toBe(200);
      expect((await scenario.streamUsers()).users).toEqual([]); // tokens alone never reach Stream

      const response = await revoke(env, idToken);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { revoked_before?: string; result?: { revoked_before: string } };
      const revokedBefore = body.revoked_before ?? body.result?.revoked_before;
      expect((await scenario.streamUsers()).users).toMatchObject([{ id: uid, name: 'Tess', revoke_tokens_issued_before: revokedBefore }]);
      const row = await baseEnv.DB.prepare('SELECT state FROM stream_users WHERE uid = ?1').bind(uid).first<{ state: string }>();
      expect(row?.state).toBe('active');
    });
  }
});

describe('custom claims → Stream role and teams', () => {
  const policy = { STREAM_ROLE_CLAIM: 'stream_role', STREAM_ALLOWED_ROLES: 'user,moderator', STREAM_TEAMS_CLAIM: 'stream_teams' };

  it('a moderator made in Firebase is a moderator in Stream, with its teams, by partial update', async () => {
    await scenario.seedStreamUsers([{ id: 'mod', name: 'Old', role: 'user', favourite: 'tea' }]);
    const idToken = await mintIdToken(key, 'mod', { claims: { name: 'Mo', stream_role: 'moderator', stream_teams: ['red', 'blue'] } });
    expect((await callWorker(scenario.env(policy), '/v1/users/me', { idToken })).status).toBe(200);
    expect((await scenario.streamUsers()).users).toEqual([
      expect.objectContaining({ id: 'mod', name: 'Mo', role: 'moderator', teams: ['red', 'blue'], favourite: 'tea' }),
    ]);
    const patch = (await scenario.streamRequests()).find((r) => r.method === 'PATCH');
    expect(patch?.body).toEqual({
      users: [{ id: 'mod', set: { name: 'Mo', role: 'moderator', teams: ['red', 'blue'] }, unset: ['image'] }],
    });
  });

  it('a token claiming admin when only user,moderator are allowed never makes an admin; the rest is synced and it is logged', async () => {
    await scenario.seedStreamUsers([{ id: 'sneaky', role: 'user' }]);
    const idToken = await mintIdToken(key, 'sneaky', { claims: { name: 'Sneaky', stream_role: 'admin' } });
    const log = captureConsole();
    let response: Response;
    try {
      response = await callWorker(scenario.env(policy), '/v1/users/me', { idToken });
    } finally {
      log.restore();
    }
    expect(response.status).toBe(200);
    const user = (await scenario.streamUsers()).users[0]!;
    expect(user).toMatchObject({ id: 'sneaky', name: 'Sneaky', role: 'user' });
    expect(log.lines.some((line) => line.includes('claim_refused') && line.includes('admin'))).toBe(true);
    expect(log.lines.join('\n')).not.toContain(idToken.slice(-20));
  });

  it('without the settings, role and teams stay untouched whatever the claims say', async () => {
    await scenario.seedStreamUsers([{ id: 'plain', role: 'moderator', teams: ['x'] }]);
    const idToken = await mintIdToken(key, 'plain', { claims: { stream_role: 'admin', stream_teams: ['y'] } });
    await callWorker(scenario.env(), '/v1/users/me', { idToken });
    expect((await scenario.streamUsers()).users[0]).toMatchObject({ role: 'moderator', teams: ['x'] });
  });

  it('a new user is created with its role and teams', async () => {
    const idToken = await mintIdToken(key, 'fresh-mod', { claims: { stream_role: 'moderator', stream_teams: ['red'] } });
    await callWorker(scenario.env(policy), '/v1/users/me', { idToken });
    expect((await scenario.streamUsers()).users[0]).toMatchObject({ id: 'fresh-mod', role: 'moderator', teams: ['red'] });
  });
});

describe('per-user rate limit on Stream writes (STREAM_WRITE_LIMITER)', () => {
  it('over the limit: 429 with Retry-After on both protocols, and no Stream call', async () => {
    const env = scenario.env({ STREAM_WRITE_LIMITER: baseEnv.STREAM_WRITE_LIMITER, STREAM_PROFILE_CACHE_SECONDS: '0' });
    const uid = `busy-${crypto.randomUUID().slice(0, 8)}`;
    const idToken = await mintIdToken(key, uid);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await callWorker(env, '/v1/users/me', { idToken })).status);
    expect(statuses).toEqual(Array(10).fill(200));
    const calls = (await scenario.streamRequests()).length;

    const rest = await callWorker(env, '/v1/users/me', { idToken });
    expect(rest.status).toBe(429);
    expect(rest.headers.get('Retry-After')).toBe('60');
    expect(await rest.json()).toMatchObject({ code: 'rate_limited', status: 429 });
    const viaCallable = await callable(env, 'revokeStreamUserToken', idToken);
    expect(viaCallable.status).toBe(429);
    expect(await viaCallable.json()).toMatchObject({ error: { status: 'RESOURCE_EXHAUSTED' } });
    expect(await scenario.streamRequests()).toHaveLength(calls);

    // Tokens need no Stream call: never limited. Another user has a budget of their own.
    expect((await callWorker(env, '/v1/token', { idToken })).status).toBe(200);
    expect((await callWorker(env, '/v1/users/me', { idToken: await mintIdToken(key, `${uid}-other`) })).status).toBe(200);
  });
});

describe('many accounts, one address (STREAM_WRITE_IP_LIMITER)', () => {
  it('refuses the address past its budget on the routes that write to Stream, whatever the uid; tokens stay free', async () => {
    const keys: string[] = [];
    const ipLimiter = {
      limit: async ({ key }: { key: string }) => (keys.push(key), { success: keys.filter((k) => k === key).length <= 3 }),
    } as RateLimit;
    const env = scenario.env({ STREAM_WRITE_IP_LIMITER: ipLimiter });
    const from = (ip: string) => ({ 'CF-Connecting-IP': ip });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const idToken = await mintIdToken(key, `anon-${i}-${crypto.randomUUID().slice(0, 6)}`, {
        claims: { firebase: { sign_in_provider: 'anonymous', identities: {} } },
      });
      statuses.push((await callWorker(env, '/v1/users/me', { idToken, headers: from('203.0.113.7') })).status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    const calls = (await scenario.streamRequests()).length;
    const idToken = await mintIdToken(key, `anon-x-${crypto.randomUUID().slice(0, 6)}`);
    const viaCallable = await callable(env, 'revokeStreamUserToken', idToken, null, from('203.0.113.7'));
    expect(viaCallable.status).toBe(429);
    expect(await viaCallable.json()).toMatchObject({ error: { status: 'RESOURCE_EXHAUSTED' } });
    expect(await scenario.streamRequests()).toHaveLength(calls); // no Stream call once refused
    expect((await callWorker(env, '/v1/token', { idToken, headers: from('203.0.113.7') })).status).toBe(200);
    // A real user behind another address is not affected.
    expect(
      (await callWorker(env, '/v1/users/me', { idToken: await mintIdToken(key, 'elsewhere'), headers: from('198.51.100.2') })).status,
    ).toBe(200);
    expect(keys.every((k) => k.startsWith('ip:'))).toBe(true);
  });

  it('IPv6: one budget per /64 with the real binding (limit 120), whatever the addresses in it; another /64 has its own', async () => {
    const env = scenario.env({ STREAM_WRITE_IP_LIMITER: baseEnv.STREAM_WRITE_IP_LIMITER, STREAM_PROFILE_CACHE_SECONDS: '0' });
    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:${Math.floor(Math.random() * 0xffff).toString(16)}`;
    const hex = () => Math.floor(Math.random() * 0x10000).toString(16);
    const idToken = await mintIdToken(key, `v6-${crypto.randomUUID().slice(0, 8)}`);
    const statuses: number[] = [];
    for (let i = 0; i < 120; i++) {
      // A new interface id each time, in the spellings clients and Cloudflare use.
      const address =
        i % 3 === 0
          ? `${prefix}:${hex()}:${hex()}:${hex()}:${hex()}`
          : i % 3 === 1
            ? `${prefix}::${hex()}`
            : `${prefix}:0:0:${hex()}:${hex()}`.toUpperCase();
      statuses.push((await callWorker(env, '/v1/users/me', { idToken, headers: { 'CF-Connecting-IP': address } })).status);
    }
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    const over = await callWorker(env, '/v1/users/me', { idToken, headers: { 'CF-Connecting-IP': `${prefix}:dead:beef:0:1` } });
    expect(over.status).toBe(429);
    const [a, b] = prefix.split(':').slice(2);
    const neighbour = `2001:db8:${a}:${((parseInt(b!, 16) + 1) % 0x10000).toString(16)}::1`;
    expect((await callWorker(env, '/v1/users/me', { idToken, headers: { 'CF-Connecting-IP': neighbour } })).status).toBe(200);
  });
});

describe('anonymous users (FIREBASE_ANONYMOUS)', () => {
  const anonymous = () =>
    mintIdToken(key, `anon-${crypto.randomUUID().slice(0, 8)}`, {
      claims: { firebase: { sign_in_provider: 'anonymous', identities: {} } },
    });

  it('deny: 403 anonymous_not_allowed / PERMISSION_DENIED on every route, before any Stream call; other users served', async () => {
    const env = scenario.env({ FIREBASE_ANONYMOUS: 'deny' });
    const idToken = await anonymous();
    for (const path of ['/v1/users/me', '/v1/token', '/v1/token/revoke']) {
      const response = await callWorker(env, path, { idToken });
      expect(response.status, path).toBe(403);
      expect(await response.json()).toMatchObject({ code: 'anonymous_not_allowed' });
    }
    for (const name of ['createStreamUserAndGetToken', 'getStreamUserToken']) {
      const response = await callable(env, name, idToken);
      expect(response.status, name).toBe(403);
      expect(await response.json()).toMatchObject({ error: { status: 'PERMISSION_DENIED' } });
    }
    expect(await scenario.streamRequests()).toEqual([]);
    expect((await callWorker(env, '/v1/token', { idToken: await mintIdToken(key, 'named-user') })).status).toBe(200);
  });

  it('token-only: the create routes answer a token without writing to Stream; revoke is refused (nothing was written)', async () => {
    const env = scenario.env({ FIREBASE_ANONYMOUS: 'token-only' });
    const idToken = await anonymous();
    const rest = await callWorker(env, '/v1/users/me', { idToken });
    expect(rest.status).toBe(200);
    expect(await rest.json()).toMatchObject({ token: expect.any(String), user: { id: expect.stringMatching(/^anon-/) } });
    const viaCallable = await callable(env, 'createStreamUserAndGetToken', idToken);
    expect(viaCallable.status).toBe(200);
    expect(await scenario.streamRequests()).toEqual([]);
    const revoke = await callable(env, 'revokeStreamUserToken', idToken);
    expect(revoke.status).toBe(403);
    expect(await revoke.json()).toMatchObject({ error: { status: 'PERMISSION_DENIED' } });
    // A signed-in (non-anonymous) user is written as usual.
    expect((await callWorker(env, '/v1/users/me', { idToken: await mintIdToken(key, 'named-user-2') })).status).toBe(200);
    expect((await scenario.streamRequests()).length).toBeGreaterThan(0);
  });

  it('a setting it does not know is a bad setting', async () => {
    const response = await callWorker(scenario.env({ FIREBASE_ANONYMOUS: 'sometimes' }), '/healthz', { method: 'GET' });
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: 'misconfigured', settings: ['FIREBASE_ANONYMOUS'] });
    expectLogged('invalid_config');
  });
});

describe('sign-up bursts', () => {
  it('a returning user with an unchanged profile never reaches Stream, whichever isolate serves them (the registry remembers)', async () => {
    await baseEnv.DB.prepare(`DELETE FROM stream_users WHERE uid = 'returning'`).run();
    const idToken = await mintIdToken(key, 'returning', { claims: { name: 'Re Turning' } });
    expect((await callWorker(scenario.env({ DB: baseEnv.DB }), '/v1/users/me', { idToken })).status).toBe(200);
    const afterFirst = (await scenario.streamRequests()).length;
    expect(afterFirst).toBe(2); // query, upsert
    // Two more isolates (new env objects: new caches), same profile: no Stream call at all.
    for (let i = 0; i < 2; i++) expect((await callWorker(scenario.env({ DB: baseEnv.DB }), '/v1/users/me', { idToken })).status).toBe(200);
    expect(await scenario.streamRequests()).toHaveLength(afterFirst);
    // A changed profile is written, from any isolate.
    const renamed = await mintIdToken(key, 'returning', { claims: { name: 'New Name' } });
    expect((await callWorker(scenario.env({ DB: baseEnv.DB }), '/v1/users/me', { idToken: renamed })).status).toBe(200);
    expect((await scenario.streamUsers()).users.find((u) => u.id === 'returning')).toMatchObject({ name: 'New Name' });
  });

  it("Stream's budget for the minute spent: 503 with Retry-After on both protocols, and no token", async () => {
    const reset = String(Math.floor(Date.now() / 1000) + 45);
    const limited = {
      method: 'GET',
      status: 429,
      body: { code: 9, message: 'Too many requests' },
      headers: { 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': reset },
    };
    await scenario.scriptStream([limited]);
    const rest = await callWorker(scenario.env(), '/v1/users/me', { idToken: await mintIdToken(key, 'burst-1') });
    expect(rest.status).toBe(503);
    expect(Number(rest.headers.get('Retry-After'))).toBeGreaterThanOrEqual(40);
    const body = await rest.text();
    expect(JSON.parse(body)).toMatchObject({ code: 'stream_unavailable' });
    expect(body).not.toMatch(/eyJ/);
    await scenario.scriptStream([limited]);
    const viaCallable = await callable(scenario.env(), 'createStreamUserAndGetToken', await mintIdToken(key, 'burst-2'));
    expect(viaCallable.status).toBe(503);
    expect(await viaCallable.json()).toMatchObject({ error: { status: 'UNAVAILABLE' } });
    expect((await scenario.streamUsers()).users).toEqual([]);
    expectLogged('stream_call_failed', 'request_failed');
  });
});

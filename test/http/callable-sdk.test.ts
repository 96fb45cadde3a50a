/**
 * The callable routes as the real Firebase JS SDK (`firebase` 12,
 * `httpsCallableFromURL`) calls them, inside workerd: the SDK's own request
 * and its own reading of the answer are the oracle. Its `fetch` is routed to
 * the Worker's entry point; the transport adds the ID token, as the SDK does
 * for a signed-in user (there is no Auth emulator in workerd; the end-to-end
 * test in test/e2e/stream-client.test.ts does the same with a real sign-in).
 */
import { deleteApp, initializeApp, type FirebaseApp } from 'firebase/app';
import { getFunctions, httpsCallableFromURL, type Functions } from 'firebase/functions';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectLogged } from '../support/console';
import { callWorker, decodePayload, makeSigningKey, mintIdToken, Scenario, type SigningKey } from '../support/fixtures';
import type { Env } from '../../src/env';

const WORKER = 'https://worker.test';
let scenario: Scenario;
let key: SigningKey;
let app: FirebaseApp;
let functions: Functions;
let originalFetch: typeof fetch;
/** What the transport sends as the caller's ID token (undefined: no Authorization header). */
let idToken: string | undefined;
let env: Env;

beforeEach(async () => {
  scenario = await Scenario.create();
  key = await makeSigningKey();
  await scenario.setGoogle({ keys: [key] });
  env = scenario.env();
  idToken = undefined;
  app = initializeApp({ apiKey: 'test-api-key', projectId: 'demo-test-project', appId: '1:1:web:1' }, `sdk-${crypto.randomUUID()}`);
  functions = getFunctions(app);
  originalFetch = globalThis.fetch;
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin !== WORKER) return originalFetch(input, init);
    return callWorker(env, url.pathname, { ...init, idToken });
  }) as typeof fetch;
});

afterEach(async () => {
  globalThis.fetch = originalFetch;
  await deleteApp(app);
});

/** What a promise did within `ms`: its value, its error's code, or `pending`. */
async function settled<T>(promise: Promise<T>, ms = 2000): Promise<{ value: T } | { code: string } | 'pending'> {
  const timeout = new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms));
  return Promise.race([
    promise.then(
      (value) => ({ value }),
      (error: { code?: string }) => ({ code: String(error.code) }),
    ),
    timeout,
  ]);
}

const CALLABLES = [
  'createStreamUserAndGetToken',
  'getStreamUserToken',
  'revokeStreamUserToken',
  'deleteStreamUser',
  'ext-auth-chat-getStreamUserToken',
  'ext-auth-chat-revokeStreamUserToken',
];

describe('a callable path with a trailing slash answers in the callable format', () => {
  it.each(CALLABLES)('%s/: no Authorization is failed-precondition (the callable code), not a guess from the HTTP status', async (name) => {
    for (const path of [`/${name}`, `/${name}/`]) {
      const answer = await settled(httpsCallableFromURL(functions, `${WORKER}${path}`)(null));
      expect(answer, path).toEqual({ code: 'functions/failed-precondition' });
    }
  });

  it('a Stream failure is aborted, a bad ID token unauthenticated, a good one a token for the uid', async () => {
    const failure = { status: 500, body: { code: -1, message: 'internal', StatusCode: 500 } };
    await scenario.scriptStream([failure, failure, failure]);
    idToken = await mintIdToken(key, 'ada');
    const create = httpsCallableFromURL<null, string>(functions, `${WORKER}/createStreamUserAndGetToken/`);
    expect(await settled(create(null))).toEqual({ code: 'functions/aborted' });

    const token = await create(null);
    expect(decodePayload(token.data).user_id).toBe('ada');

    idToken = 'not-a-token';
    expect(await settled(httpsCallableFromURL(functions, `${WORKER}/getStreamUserToken/`)(null))).toEqual({
      code: 'functions/unauthenticated',
    });
    expectLogged('stream_call_retry', 'stream_call_failed', 'request_failed');
  });
});

describe('streaming (Accept: text/event-stream), as firebase-functions v2 answers it', () => {
  it('.stream() ends with no messages and .data resolves with the result, on every callable', async () => {
    await scenario.seedStreamUsers([{ id: 'bob' }]);
    idToken = await mintIdToken(key, 'bob');
    for (const name of ['createStreamUserAndGetToken', 'getStreamUserToken', 'ext-auth-chat-getStreamUserToken']) {
      const { stream, data } = await httpsCallableFromURL<null, string>(functions, `${WORKER}/${name}`).stream(null);
      const messages: unknown[] = [];
      for await (const message of stream) messages.push(message);
      expect(messages, name).toEqual([]);
      const result = await settled(data);
      expect(result, name).toEqual({ value: expect.any(String) });
      expect(decodePayload((result as { value: string }).value).user_id).toBe('bob');
    }
    const revoke = await httpsCallableFromURL(functions, `${WORKER}/revokeStreamUserToken/`).stream(null);
    expect(await settled(revoke.data)).toEqual({ value: { revoked_before: expect.stringMatching(/^\d{4}-/) } });
  });

  it('errors reject .data and the stream with the callable code', async () => {
    const noAuth = await httpsCallableFromURL(functions, `${WORKER}/getStreamUserToken`).stream(null);
    expect(await settled(noAuth.data)).toEqual({ code: 'functions/failed-precondition' });
    const iterated = await settled(
      (async () => {
        for await (const _ of noAuth.stream) void _;
      })(),
    );
    expect(iterated).toEqual({ code: 'functions/failed-precondition' });

    idToken = 'not-a-token';
    const badToken = await httpsCallableFromURL(functions, `${WORKER}/getStreamUserToken/`).stream(null);
    expect(await settled(badToken.data)).toEqual({ code: 'functions/unauthenticated' });

    idToken = await mintIdToken(key, 'ada');
    const failure = { status: 500, body: { code: -1, message: 'internal', StatusCode: 500 } };
    await scenario.scriptStream([failure, failure, failure]);
    const streamFailed = await httpsCallableFromURL(functions, `${WORKER}/createStreamUserAndGetToken`).stream(null);
    expect(await settled(streamFailed.data)).toEqual({ code: 'functions/aborted' });

    const tooLarge = await httpsCallableFromURL(functions, `${WORKER}/getStreamUserToken`).stream('x'.repeat(70 * 1024));
    expect(await settled(tooLarge.data)).toEqual({ code: 'functions/invalid-argument' });
    expectLogged('stream_call_retry', 'stream_call_failed', 'request_failed');
  });
});

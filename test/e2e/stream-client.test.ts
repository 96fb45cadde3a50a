/**
 * The official clients end to end, in Node: the Firebase JS SDK
 * against the Auth emulator, the real `stream-chat` client against the Stream
 * stand-in's client connection, the Worker as `npm start` runs it, and the
 * token provider of this repository (client/index.ts) between them.
 */
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initializeApp, deleteApp, type FirebaseApp } from 'firebase/app';
import { connectAuthEmulator, createUserWithEmailAndPassword, deleteUser, getAuth, updateProfile, type Auth } from 'firebase/auth';
import { getFunctions, httpsCallableFromURL } from 'firebase/functions';
import { StreamChat } from 'stream-chat';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStreamTokenProvider, deleteStreamUser, revokeStreamTokens, StreamTokenError } from '../../client/index';
import { freePort, listenOnLoopback } from '../../scripts/lib/process.mjs';
import { startLocal } from '../../scripts/start.mjs';
import { unsignedIdToken } from './id-tokens';

const TTL_SECONDS = 4;
let stack: Awaited<ReturnType<typeof startLocal>>;
let app: FirebaseApp;
let auth: Auth;
let state: string;
const clients: StreamChat[] = [];

beforeAll(async () => {
  state = mkdtempSync(join(tmpdir(), 'stream-client-e2e-'));
  stack = await startLocal({
    workerPort: await freePort(),
    emulatorPort: await freePort(),
    persistTo: state,
    log: () => {},
    deletionEvents: false, // the self-service delete alone: a pushed event would race it (test/e2e/deletion-events.test.ts tests events)
    vars: { STREAM_TOKEN_TTL_SECONDS: String(TTL_SECONDS) },
  });
  app = initializeApp({ apiKey: 'local-api-key', projectId: stack.projectId }, `e2e-${Date.now()}`);
  auth = getAuth(app);
  connectAuthEmulator(auth, `http://${stack.emulatorHost}`, { disableWarnings: true });
}, 180_000);

afterAll(async () => {
  for (const client of clients) await client.disconnectUser().catch(() => undefined);
  if (app) await deleteApp(app);
  await stack?.stop();
  rmSync(state, { recursive: true, force: true });
});

function chatClient(): StreamChat {
  const client = new StreamChat(stack.streamAccess.apiKey, {
    baseURL: stack.streamAccess.baseUrl,
    allowServerSideConnect: true,
    timeout: 5000,
  });
  clients.push(client);
  return client;
}

async function signUp(name: string) {
  const email = `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}@example.com`;
  // The first call of the Firebase JS SDK right after the emulator started has failed once with
  // auth/network-request-failed (seen when this file followed another in the same run): one retry.
  const credential = await createUserWithEmailAndPassword(auth, email, 'password-123').catch(async (error: { code?: string }) => {
    if (error.code !== 'auth/network-request-failed') throw error;
    await new Promise((resolve) => setTimeout(resolve, 500));
    return createUserWithEmailAndPassword(auth, email, 'password-123');
  });
  await updateProfile(credential.user, { displayName: name });
  await credential.user.getIdToken(true); // the profile is in the next ID token
  return credential.user;
}

/** Counts the Worker calls a provider makes. */
function countingFetch(): { fetch: typeof fetch; paths: string[] } {
  const paths: string[] = [];
  return { paths, fetch: (input, init) => (paths.push(new URL(String(input)).pathname), fetch(input, init)) };
}

const connections = () => stack.stream!.standIn.connections;

it("npm start exposes no cron trigger a web page could call: no /__scheduled, and the run route needs the run's token", async () => {
  expect((await fetch(`${stack.workerUrl}/__scheduled`)).status).toBe(404);
  expect(
    (await fetch(`${stack.workerUrl}/v1/admin/reconcile/run`, { method: 'POST', headers: { Origin: 'https://evil.example' } })).status,
  ).toBe(403); // emulator mode: local pages only
  expect((await fetch(`${stack.workerUrl}/v1/admin/reconcile/run`, { method: 'POST' })).status).toBe(401);
  const run = await fetch(`${stack.workerUrl}/v1/admin/reconcile/run`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${stack.adminToken}` },
  });
  expect(run.status).toBe(200);
  expect(await run.json()).toMatchObject({ mode: 'inline' });
});

it('npm run doctor against the local stack: every check answers, none fails', async () => {
  // Not spawnSync: the Stream stand-in answers from this process's event loop.
  const { execFile } = await import('node:child_process');
  const run = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile(
      process.execPath,
      ['scripts/doctor.mjs', '--url', stack.workerUrl],
      { env: { ...process.env, ADMIN_TOKEN: stack.adminToken } },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
  const { output } = run;
  expect(run.code, output).toBe(0);
  for (const name of [
    'settings',
    'stream_credentials',
    'clock_skew',
    'firebase_admin',
    'd1_migrations',
    'bindings',
    'google_keys',
    'reconcile',
  ])
    expect(output).toContain(name);
  expect(output).toContain('No failures.');
  expect(output).not.toContain(stack.adminToken);
});

it('npm run status renders the reconciliation status for a person', async () => {
  const { execFile } = await import('node:child_process');
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['scripts/status.mjs', '--url', stack.workerUrl],
      { env: { ...process.env, ADMIN_TOKEN: stack.adminToken } },
      (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout)),
    );
  });
  expect(output).toMatch(/registry\s+active \d+/);
  expect(output).toMatch(/sweep\s+\[/);
  expect(output).toMatch(/last run/);
});

it('connects the official client as the signed-in uid, with the profile from Firebase (REST and callable)', async () => {
  for (const protocol of ['rest', 'callable'] as const) {
    const user = await signUp(`Ada-${protocol}`);
    const counting = countingFetch();
    const provider = createStreamTokenProvider({
      url: stack.workerUrl,
      getIdToken: (force) => user.getIdToken(force),
      protocol,
      fetch: counting.fetch,
    });
    const client = chatClient();
    const connected = await client.connectUser({ id: user.uid }, provider);
    expect(connected?.me?.id).toBe(user.uid);
    expect(client.user?.name).toBe(`Ada-${protocol}`); // written by the create route, read back on connect
    expect(counting.paths).toEqual([protocol === 'rest' ? '/v1/users/me' : '/createStreamUserAndGetToken']);
    await client.disconnectUser();
  }
});

it('the Firebase JS SDK as a signed-in user: httpsCallableFromURL(…).stream() resolves .data with a token for the uid; a plain call too', async () => {
  const user = await signUp('Streamer');
  const functions = getFunctions(app);
  const streamed = await httpsCallableFromURL<null, string>(functions, `${stack.workerUrl}/createStreamUserAndGetToken`).stream(null);
  const messages: unknown[] = [];
  for await (const message of streamed.stream) messages.push(message);
  expect(messages).toEqual([]);
  const token = await streamed.data;
  expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).user_id).toBe(user.uid);
  const plain = await httpsCallableFromURL<null, string>(functions, `${stack.workerUrl}/getStreamUserToken/`)(null);
  expect(JSON.parse(Buffer.from(plain.data.split('.')[1]!, 'base64url').toString()).user_id).toBe(user.uid);
});

it(`refreshes when the token expires (TTL ${TTL_SECONDS} s): the SDK asks the provider, gets a new token, and stays connected`, async () => {
  const user = await signUp('Refresher');
  const counting = countingFetch();
  const provider = createStreamTokenProvider({
    url: stack.workerUrl,
    getIdToken: (force) => user.getIdToken(force),
    fetch: counting.fetch,
  });
  const client = chatClient();
  await client.connectUser({ id: user.uid }, provider);
  const before = connections().length;
  // The stand-in closes the connection at exp, as Stream does; the reconnect with the old token is refused with code 40.
  await waitFor(
    () =>
      connections()
        .slice(before)
        .some((c) => c.userId === user.uid && c.accepted),
    (TTL_SECONDS + 15) * 1000,
  );
  const after = connections()
    .slice(before)
    .filter((c) => c.userId === user.uid);
  expect(after.some((c) => !c.accepted && c.code === 40)).toBe(true);
  expect(after[after.length - 1]!.accepted).toBe(true);
  expect(counting.paths).toEqual(['/v1/users/me', '/v1/token']); // a new token, not the cached one
  expect(client.wsConnection?.isHealthy).toBe(true);
  await client.disconnectUser();
}, 40_000);

it("revoke: a token issued before it is refused on connect; the provider's next token connects", async () => {
  const user = await signUp('Revoker');
  const provider = createStreamTokenProvider({ url: stack.workerUrl, getIdToken: (force) => user.getIdToken(force) });
  const oldToken = await provider();
  await revokeStreamTokens({ url: stack.workerUrl, getIdToken: (force) => user.getIdToken(force) });
  const stale = chatClient();
  await expect(stale.connectUser({ id: user.uid }, oldToken)).rejects.toThrow(/"code":40/);
  const fresh = chatClient();
  expect((await fresh.connectUser({ id: user.uid }, provider))?.me?.id).toBe(user.uid);
  await fresh.disconnectUser();
});

it('revoke works for a user who only ever fetched tokens (no Stream user yet)', async () => {
  const user = await signUp('TokensOnly');
  const provider = createStreamTokenProvider({ url: stack.workerUrl, getIdToken: (force) => user.getIdToken(force), createUser: false });
  const oldToken = await provider();
  expect(stack.stream!.standIn.users.has(user.uid)).toBe(false);
  await revokeStreamTokens({ url: stack.workerUrl, getIdToken: (force) => user.getIdToken(force), protocol: 'callable' });
  await expect(chatClient().connectUser({ id: user.uid }, oldToken)).rejects.toThrow(/"code":40/);
});

it('account deleted (self-service delete): reconnecting is refused', async () => {
  const user = await signUp('Leaver');
  const provider = createStreamTokenProvider({ url: stack.workerUrl, getIdToken: (force) => user.getIdToken(force) });
  const client = chatClient();
  await client.connectUser({ id: user.uid }, provider);
  await client.disconnectUser();
  const friend = await signUp('Stayer'); // someone Firebase still has: the brake's witness
  await createStreamTokenProvider({ url: stack.workerUrl, getIdToken: (force) => friend.getIdToken(force) })();
  const idToken = await user.getIdToken();
  const connectionsBefore = connections().filter((c) => c.userId === user.uid).length;
  await deleteUser(user);
  expect(await deleteStreamUser({ url: stack.workerUrl, getIdToken: async () => idToken })).toMatchObject({ deleted: true });
  // The Worker refuses a deleted uid a new token (410 user_deleted); a token kept from before is refused by Stream.
  const token = await provider().catch(() => undefined);
  if (token !== undefined) await expect(chatClient().connectUser({ id: user.uid }, token)).rejects.toThrow();
  expect(
    connections()
      .filter((c) => c.userId === user.uid)
      .slice(connectionsBefore)
      .filter((c) => c.accepted),
  ).toEqual([]);
});

it('the Worker answering 503 with Retry-After for a while: the provider waits, then the SDK connects', async () => {
  const user = await signUp('Patient');
  let refusals = 2;
  const proxy = createServer(async (req, res) => {
    if (refusals-- > 0) {
      res.writeHead(503, { 'Content-Type': 'application/problem+json', 'Retry-After': '1' });
      res.end(JSON.stringify({ type: 'about:blank', title: 'Stream is busy', status: 503, code: 'stream_unavailable', detail: 'busy' }));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const upstream = await fetch(`${stack.workerUrl}${req.url}`, {
      method: req.method,
      headers: { authorization: req.headers.authorization ?? '' },
      body: chunks.length ? Buffer.concat(chunks) : undefined,
    });
    res.writeHead(upstream.status, { 'Content-Type': upstream.headers.get('content-type') ?? 'application/json' });
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  const { url, close } = await listenOnLoopback(proxy, 0);
  try {
    const waits: number[] = [];
    const provider = createStreamTokenProvider({
      url,
      getIdToken: (force) => user.getIdToken(force),
      sleep: (ms) => (waits.push(ms), new Promise((resolve) => setTimeout(resolve, ms))),
    });
    const client = chatClient();
    expect((await client.connectUser({ id: user.uid }, provider))?.me?.id).toBe(user.uid);
    expect(waits).toHaveLength(2); // Retry-After 1, plus under a second of jitter
    for (const wait of waits) expect(wait >= 1000 && wait < 2000, String(wait)).toBe(true);
    await client.disconnectUser();
    // Past its bound it fails with the Worker's code.
    refusals = 10;
    const impatient = createStreamTokenProvider({
      url,
      getIdToken: (force) => user.getIdToken(force),
      maxRetries: 1,
      sleep: async () => {},
    });
    await expect(impatient()).rejects.toMatchObject({ code: 'stream_unavailable', status: 503 });
  } finally {
    await close();
  }
});

it('a Worker that never answers: the provider fails after its timeout, never waits forever', async () => {
  const silent = createServer(() => {}); // accepts, never answers
  const { url, close } = await listenOnLoopback(silent, 0);
  try {
    const provider = createStreamTokenProvider({ url, getIdToken: async () => 'unused', timeoutMs: 300 });
    const started = Date.now();
    await expect(provider()).rejects.toThrow(/timeout|abort/i);
    expect(Date.now() - started).toBeLessThan(5_000);
  } finally {
    silent.closeAllConnections();
    await close();
  }
});

it("a Firebase ID token that expired in the provider's hands: one refresh, then success; refused again, a clear error", async () => {
  const user = await signUp('Sleeper');
  const expired = unsignedIdToken(user.uid, stack.projectId, -7200);
  const asked: boolean[] = [];
  const provider = createStreamTokenProvider({
    url: stack.workerUrl,
    getIdToken: async (force) => (asked.push(force), force ? user.getIdToken(true) : expired),
  });
  expect((await chatClient().connectUser({ id: user.uid }, provider))?.me?.id).toBe(user.uid);
  expect(asked).toEqual([false, true]);

  const hopeless = createStreamTokenProvider({ url: stack.workerUrl, getIdToken: async () => expired });
  const failure = await hopeless().catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(StreamTokenError);
  expect(failure).toMatchObject({ code: 'invalid_token', status: 401 });
});

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

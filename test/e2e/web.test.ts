import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createServer } from 'node:http';
import { build } from 'esbuild';
import { freePort, listenOnLoopback } from '../../scripts/lib/process.mjs';
import { startLocal } from '../../scripts/start.mjs';
import { buildWeb, pageQuery, serveWeb } from '../../scripts/web.mjs';
import { unsignedIdToken } from './id-tokens';

/** Debian's chromium (installed by .ci/run); flags as this machine needs them headless, as root. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const TTL_SECONDS = 4;
let stack: Awaited<ReturnType<typeof startLocal>>;
let web: Awaited<ReturnType<typeof serveWeb>>;
let browser: Browser;
const dirs: string[] = [];

beforeAll(async () => {
  const state = mkdtempSync(join(tmpdir(), 'web-e2e-state-'));
  const out = mkdtempSync(join(tmpdir(), 'web-e2e-dist-'));
  dirs.push(state, out);
  web = await serveWeb(await buildWeb(out));
  stack = await startLocal({
    workerPort: await freePort(),
    emulatorPort: await freePort(),
    persistTo: state,
    log: () => {},
    deletionEvents: false, // the self-service delete alone: a pushed event would race it (test/e2e/deletion-events.test.ts tests events)
    corsOrigins: [new URL(web.url).origin],
    vars: { STREAM_TOKEN_TTL_SECONDS: String(TTL_SECONDS) }, // short, so the browser's client must refresh
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
});

afterAll(async () => {
  await browser?.close();
  await web?.close();
  await stack?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

it('signs up and in with the Firebase JS SDK, gets a Stream token from another origin, and shows the right user', async () => {
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const query = new URLSearchParams({ worker: stack.workerUrl, authEmulator: `http://${stack.emulatorHost}`, projectId: stack.projectId });
  await page.goto(`${web.url}/?${query}`);
  expect(new URL(web.url).origin).not.toBe(new URL(stack.workerUrl).origin); // a real cross-origin call: CORS must work

  const email = `web-${Date.now()}@example.com`;
  await page.fill('#email', email);
  await page.fill('#password', 'password-123');
  await page.click('#sign-up');
  await page.waitForFunction(() => document.getElementById('stream-user-id')?.dataset.value, undefined, { timeout: 20_000 });

  const firebaseUid = await page.getAttribute('#firebase-uid', 'data-value');
  const shownUserId = await page.getAttribute('#stream-user-id', 'data-value');
  const token = (await page.getAttribute('#token', 'data-value'))!;
  const expiry = await page.getAttribute('#token-expiry', 'data-value');
  expect(firebaseUid).toMatch(/^[A-Za-z0-9]{20,}$/);
  expect(shownUserId).toBe(firebaseUid);
  const { payload } = await jwtVerify(token, new TextEncoder().encode(stack.streamAccess.secret), { algorithms: ['HS256'] });
  expect(payload.user_id).toBe(firebaseUid);
  expect(Date.parse(expiry!)).toBe((payload.exp as number) * 1000);

  // The emulator agrees this email belongs to that uid.
  const lookup = await fetch(`http://${stack.emulatorHost}/identitytoolkit.googleapis.com/v1/projects/${stack.projectId}/accounts:lookup`, {
    method: 'POST',
    headers: { Authorization: 'Bearer owner', 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: [email] }),
  });
  expect(((await lookup.json()) as { users: { localId: string }[] }).users[0]?.localId).toBe(firebaseUid);

  // Sign out, then sign in again: the same user, a token again.
  await page.click('#sign-out');
  await page.waitForFunction(() => !document.getElementById('stream-user-id')?.dataset.value);
  await page.click('#sign-in');
  await page.waitForFunction(() => document.getElementById('stream-user-id')?.dataset.value, undefined, { timeout: 20_000 });
  expect(await page.getAttribute('#stream-user-id', 'data-value')).toBe(firebaseUid);
  expect(await page.textContent('#error')).toBe('');

  // Another user of the app exists (the deletion's brake asks Firebase about users known to exist).
  await anotherUserWithAToken('other');

  // Delete my account: the Firebase account, then the Stream user, at once.
  await page.click('#delete-account');
  await page.waitForFunction(() => document.getElementById('delete-result')?.dataset.value, undefined, { timeout: 20_000 });
  expect(await page.textContent('#error')).toBe('');
  expect(await page.getAttribute('#delete-result', 'data-value')).toBe('deleted');
  expect(pageErrors).toEqual([]);
});

it('connects the official stream-chat client in the browser through the token provider: refresh, revoke, deletion', async () => {
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const standIn = stack.stream!.standIn;
  // The URL `npm run web` prints while npm start runs: the page connects with no more parameters.
  const query = pageQuery({ ...stack, streamApiKey: stack.streamAccess.apiKey, stream: stack.streamAccess });
  await page.goto(`${web.url}/?${query}`);
  await page.fill('#email', `chat-${Date.now()}@example.com`);
  await page.fill('#password', 'password-123');
  await page.click('#sign-up');
  await page.waitForFunction(() => document.getElementById('stream-connected')?.dataset.value, undefined, { timeout: 20_000 });
  const uid = (await page.getAttribute('#firebase-uid', 'data-value'))!;
  expect(await page.getAttribute('#stream-connected', 'data-value')).toBe(uid);
  const mine = () => standIn.connections.filter((c) => c.userId === uid);

  // The token expires: the stand-in closes the connection as Stream does, the reconnect is refused with 40,
  // the SDK asks the provider, which fetches a new token (not the cached one), and the client connects again.
  await page.waitForFunction(() => Number(document.getElementById('token')?.dataset.count) >= 2, undefined, {
    timeout: (TTL_SECONDS + 15) * 1000,
  });
  await waitFor(() => mine().filter((c) => c.accepted).length >= 2, 10_000);
  expect(mine().some((c) => !c.accepted && c.code === 40)).toBe(true);

  // Revoke: the token the page holds is refused on connect from now on; the next one connects.
  const held = (await page.getAttribute('#token', 'data-value'))!;
  await page.click('#revoke');
  await page.waitForFunction(() => document.getElementById('revoked')?.dataset.value, undefined, { timeout: 20_000 });
  const refused = await connectAs(uid, held);
  expect(refused).toMatchObject({ ok: false, code: 40 });
  const accepted = mine().filter((c) => c.accepted).length;
  for (const socket of standIn.sockets) socket.close(4000, 'dropped'); // the page's connection drops: it reconnects
  await waitFor(() => mine().filter((c) => c.accepted).length > accepted, (TTL_SECONDS + 15) * 1000);

  // Another user exists (the deletion's brake asks Firebase about users known to exist); then delete my account.
  await anotherUserWithAToken('witness');
  const last = (await page.getAttribute('#token', 'data-value'))!;
  await page.click('#delete-account');
  await page.waitForFunction(() => document.getElementById('delete-result')?.dataset.value, undefined, { timeout: 20_000 });
  expect(await page.getAttribute('#delete-result', 'data-value')).toBe('deleted');
  const afterDeletion = await connectAs(uid, last);
  expect(afterDeletion).toMatchObject({ ok: false, code: 16 });
  expect(await page.textContent('#error')).toBe('');
  expect(pageErrors).toEqual([]);
});

it("in the browser, the provider waits out 503s as the Worker's Retry-After says (readable across origins), then the client connects", async () => {
  // A proxy in front of the Worker turns its first two answers into 503s, keeping the Worker's own CORS headers.
  let refusals = 2;
  const proxy = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string' && name !== 'host') headers[name] = value;
    const upstream = await fetch(`${stack.workerUrl}${req.url}`, {
      method: req.method,
      headers,
      body: chunks.length ? Buffer.concat(chunks) : undefined,
    });
    const out: Record<string, string> = {};
    upstream.headers.forEach((value, name) => {
      if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(name)) out[name] = value;
    });
    if (req.method === 'POST' && refusals-- > 0) {
      await upstream.arrayBuffer();
      res.writeHead(503, { ...out, 'content-type': 'application/problem+json', 'retry-after': '2' });
      res.end(JSON.stringify({ type: 'about:blank', title: 'Stream is busy', status: 503, code: 'stream_unavailable', detail: 'busy' }));
      return;
    }
    res.writeHead(upstream.status, out);
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  const { url: proxyUrl, close } = await listenOnLoopback(proxy, 0);
  try {
    const page = await browser.newPage();
    const query = new URLSearchParams({
      worker: proxyUrl,
      authEmulator: `http://${stack.emulatorHost}`,
      projectId: stack.projectId,
      streamKey: stack.streamAccess.apiKey,
      stream: stack.streamAccess.baseUrl,
    });
    await page.goto(`${web.url}/?${query}`);
    await page.fill('#email', `patient-${Date.now()}@example.com`);
    await page.fill('#password', 'password-123');
    const started = Date.now();
    await page.click('#sign-up');
    await page.waitForFunction(() => document.getElementById('stream-connected')?.dataset.value, undefined, { timeout: 20_000 });
    // Two waits of Retry-After: 2. Had the Worker's CORS hidden the header, the page would wait 1 s each.
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
    expect(refusals).toBeLessThan(0);
    expect(await page.textContent('#error')).toBe('');
  } finally {
    await close();
  }
});

it("in the browser, an ID token that expired in the provider's hands is refreshed once, then the Worker answers", async () => {
  // The provider module itself, bundled for the page, driven with a getIdToken that first hands out an expired token.
  const bundled = await build({
    entryPoints: [join(process.cwd(), 'client', 'index.ts')],
    bundle: true,
    format: 'iife',
    globalName: 'streamTokenEdge',
    write: false,
  });
  const { localId: uid, idToken: fresh } = await emulatorSignUp('sleeper');
  const expired = unsignedIdToken(uid, stack.projectId, -7200);

  const page = await browser.newPage();
  await page.goto(web.url); // a page of an origin the Worker's CORS allows
  await page.addScriptTag({ content: bundled.outputFiles[0]!.text });
  const outcome = await page.evaluate(
    async ({ url, expired, fresh }) => {
      const asked: boolean[] = [];
      const { createStreamTokenProvider } = (globalThis as unknown as { streamTokenEdge: typeof import('../../client/index') })
        .streamTokenEdge;
      const provider = createStreamTokenProvider({ url, getIdToken: async (force) => (asked.push(force), force ? fresh : expired) });
      const token = await provider();
      const hopeless = createStreamTokenProvider({ url, getIdToken: async () => expired });
      const failure = await hopeless().then(
        () => undefined,
        (error: { code?: string; status?: number }) => ({ code: error.code, status: error.status }),
      );
      return { asked, userId: JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))).user_id as string, failure };
    },
    { url: stack.workerUrl, expired, fresh },
  );
  expect(outcome).toEqual({ asked: [false, true], userId: uid, failure: { code: 'invalid_token', status: 401 } });
});

/** A user signed up on the Auth emulator from Node (not through the page). */
async function emulatorSignUp(name: string): Promise<{ localId: string; idToken: string }> {
  const response = await fetch(`http://${stack.emulatorHost}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=k`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: `${name}-${Date.now()}@example.com`, password: 'password-123', returnSecureToken: true }),
  });
  return (await response.json()) as { localId: string; idToken: string };
}

/** Someone else uses the app: signed up, with a Stream token (the brake's witness before a deletion). */
async function anotherUserWithAToken(name: string): Promise<void> {
  const { idToken } = await emulatorSignUp(name);
  expect((await fetch(`${stack.workerUrl}/v1/token`, { method: 'POST', headers: { Authorization: `Bearer ${idToken}` } })).status).toBe(
    200,
  );
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** What the Stream stand-in answers a client connecting as `uid` with `token` (as Stream checks a connection). */
function connectAs(uid: string, token: string) {
  return stack.stream!.standIn.checkConnection(
    new URLSearchParams({
      json: JSON.stringify({ user_id: uid }),
      api_key: stack.streamAccess.apiKey,
      authorization: token,
      'stream-auth-type': 'jwt',
    }),
  );
}

/**
 * Local stand-ins for everything the Worker talks to, served by Node on
 * 127.0.0.1 for the tests that run inside workerd:
 *
 * - Google's key endpoint: a JWK set the test registers, with
 *   `Cache-Control: max-age`, a fetch counter, and switches for "down" and "slow".
 * - The Stream API: records every request, checks the server JWT, keeps users
 *   in memory with Stream's upsert / partial-update / delete semantics, and
 *   can be scripted to fail.
 * - The oracle: the official `stream-chat` SDK, run here in Node, for tokens
 *   and for recording the exact requests the SDK sends.
 *
 * Every test works in its own scenario (`/s/<id>/…`), so tests never share state.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importJWK, jwtVerify, type JWK } from 'jose';
import { StreamChat } from 'stream-chat';
import { StreamStandIn, type RecordedRequest } from '../../scripts/lib/stream-standin.mjs';

interface Scenario {
  jwks: unknown;
  jwksMaxAge: number;
  jwksDown: boolean;
  jwksDelayMs: number;
  jwksFetches: number;
  stream: StreamStandIn;
  admin: GoogleAdmin;
}

/** Stand-in for Google's OAuth token endpoint and Identity Toolkit's accounts:lookup. */
interface GoogleAdmin {
  publicJwk?: JWK;
  clientEmail?: string;
  existing: Set<string>;
  lookupMode: 'ok' | 'error500' | 'hang' | 'garbage' | 'not-json' | 'no-kind';
  accessTokens: Set<string>;
  grants: number;
  lookups: number;
  rejectedAssertions: string[];
}

const scenarios = new Map<string, Scenario>();
let nextId = 1;

function newScenario(streamSecret: string): string {
  const id = `s${nextId++}`;
  scenarios.set(id, {
    jwks: { keys: [] },
    jwksMaxAge: 3600,
    jwksDown: false,
    jwksDelayMs: 0,
    jwksFetches: 0,
    stream: new StreamStandIn({ secret: streamSecret }),
    admin: { existing: new Set(), lookupMode: 'ok', accessTokens: new Set(), grants: 0, lookups: 0, rejectedAssertions: [] },
  });
  return id;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function handleGoogle(scenario: Scenario, res: ServerResponse): Promise<void> {
  scenario.jwksFetches++;
  if (scenario.jwksDelayMs > 0) await sleep(scenario.jwksDelayMs);
  if (scenario.jwksDown) return send(res, 503, { error: 'unavailable' });
  send(res, 200, scenario.jwks, { 'cache-control': `public, max-age=${scenario.jwksMaxAge}, must-revalidate, no-transform` });
}

async function handleOAuthToken(scenario: Scenario, tokenUri: string, bodyText: string, res: ServerResponse): Promise<void> {
  const admin = scenario.admin;
  const form = new URLSearchParams(bodyText);
  try {
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') throw new Error('grant_type');
    if (!admin.publicJwk) throw new Error('no key registered');
    const { payload, protectedHeader } = await jwtVerify(form.get('assertion') ?? '', await importJWK(admin.publicJwk, 'RS256'), {
      algorithms: ['RS256'],
      issuer: admin.clientEmail,
      audience: tokenUri,
    });
    if (protectedHeader.typ !== 'JWT') throw new Error('typ');
    const scope = String(payload.scope ?? '').split(' ');
    if (
      !scope.includes('https://www.googleapis.com/auth/identitytoolkit') &&
      !scope.includes('https://www.googleapis.com/auth/cloud-platform')
    ) {
      throw new Error('scope');
    }
    if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number' || payload.exp - payload.iat > 3600) throw new Error('lifetime');
  } catch (error) {
    admin.rejectedAssertions.push(error instanceof Error ? error.message : String(error));
    return send(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT' });
  }
  admin.grants++;
  const accessToken = `ya29.test-${admin.grants}-${Math.random().toString(36).slice(2)}`;
  admin.accessTokens.add(accessToken);
  send(res, 200, { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' });
}

async function handleLookup(scenario: Scenario, req: IncomingMessage, bodyText: string, res: ServerResponse): Promise<void> {
  const admin = scenario.admin;
  admin.lookups++;
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (!bearer || !admin.accessTokens.has(bearer))
    return send(res, 401, { error: { code: 401, message: 'invalid credentials', status: 'UNAUTHENTICATED' } });
  switch (admin.lookupMode) {
    case 'error500':
      return send(res, 500, { error: { code: 500, message: 'internal', status: 'INTERNAL' } });
    case 'hang':
      await sleep(15_000);
      return send(res, 504, {});
    case 'garbage':
      return send(res, 200, { kind: 'identitytoolkit#GetAccountInfoResponse', users: 'nope' });
    case 'not-json':
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end('<html>proxy error</html>');
    case 'no-kind':
      return send(res, 200, {});
  }
  const { localId, tenantId } = JSON.parse(bodyText) as { localId: string[]; tenantId?: string };
  // Tenant users are listed as "<tenant>/<uid>": a project-level lookup does not see them, as in Firebase.
  const key = (uid: string) => (tenantId ? `${tenantId}/${uid}` : uid);
  const users = localId.filter((uid) => admin.existing.has(key(uid))).map((uid) => ({ localId: uid, email: `${uid}@example.com` }));
  // Like Google: the `users` key is absent when none of the ids exist.
  send(
    res,
    200,
    users.length > 0 ? { kind: 'identitytoolkit#GetAccountInfoResponse', users } : { kind: 'identitytoolkit#GetAccountInfoResponse' },
  );
}

/** Runs one `stream-chat` call against a throwaway recorder scenario and returns what it sent. */
async function recordSdkCall(
  origin: string,
  request: { secret: string; apiKey: string; op: string; args: unknown[] },
): Promise<RecordedRequest> {
  const id = newScenario(request.secret);
  const scenario = scenarios.get(id)!;
  // Answer whatever the SDK sends with a plausible success; only the request matters here.
  scenario.stream.script.push({
    status: 200,
    body: request.op === 'queryUsers' ? { users: [], duration: '1ms' } : { users: {}, user: {}, task_id: 't', duration: '1ms' },
  });
  const client = new StreamChat(request.apiKey, request.secret, { timeout: 3000 });
  client.setBaseURL(`${origin}/s/${id}/stream`);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const args = request.args as any[];
  switch (request.op) {
    case 'upsertUsers':
      await client.upsertUsers(args[0]);
      break;
    case 'partialUpdateUsers':
      await client.partialUpdateUsers(args[0]);
      break;
    case 'revokeUserToken':
      await client.revokeUserToken(args[0], new Date(args[1]));
      break;
    case 'getTask':
      await client.getTask(args[0]);
      break;
    case 'deleteUsers':
      await client.deleteUsers(args[0], args[1]);
      break;
    case 'queryUsers':
      await client.queryUsers(args[0], args[1], args[2]);
      break;
    default:
      throw new Error(`unknown op ${request.op}`);
  }
  scenarios.delete(id);
  const recorded = scenario.stream.requests[0];
  if (!recorded) throw new Error('the SDK sent nothing');
  return recorded;
}

export async function startFixtureServer(): Promise<{ origin: string; server: Server }> {
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const bodyText = await readBody(req);
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

      if (req.method === 'POST' && url.pathname === '/scenarios') {
        const { streamSecret } = JSON.parse(bodyText || '{}') as { streamSecret?: string };
        return send(res, 201, { id: newScenario(streamSecret ?? 'test-secret') });
      }
      if (req.method === 'POST' && url.pathname === '/oracle/createToken') {
        const { secret, uid, exp, iat } = JSON.parse(bodyText) as { secret: string; uid: string; exp?: number; iat?: number };
        const client = new StreamChat('oraclekey', secret);
        return send(res, 200, { token: client.createToken(uid, exp, iat) });
      }
      if (req.method === 'POST' && url.pathname === '/oracle/record') {
        return send(res, 200, await recordSdkCall(origin, JSON.parse(bodyText)));
      }

      const match = /^\/s\/([^/]+)(\/.*)$/.exec(url.pathname);
      const scenario = match ? scenarios.get(match[1]!) : undefined;
      if (!match || !scenario) return send(res, 404, { error: 'no such scenario' });
      const rest = match[2]!;

      if (rest === '/jwks' && req.method === 'GET') return handleGoogle(scenario, res);
      if (rest === '/jwks' && req.method === 'PUT') {
        const update = JSON.parse(bodyText) as { jwks?: unknown; maxAge?: number; down?: boolean; delayMs?: number };
        if (update.jwks !== undefined) scenario.jwks = update.jwks;
        if (update.maxAge !== undefined) scenario.jwksMaxAge = update.maxAge;
        if (update.down !== undefined) scenario.jwksDown = update.down;
        if (update.delayMs !== undefined) scenario.jwksDelayMs = update.delayMs;
        return send(res, 200, { ok: true });
      }
      if (rest === '/stats') return send(res, 200, { jwksFetches: scenario.jwksFetches });
      if (rest === '/oauth/token' && req.method === 'POST')
        return await handleOAuthToken(scenario, `${origin}/s/${match[1]}/oauth/token`, bodyText, res);
      if (/^\/identitytoolkit\/v1\/projects\/[^/]+\/accounts:lookup$/.test(rest) && req.method === 'POST') {
        return await handleLookup(scenario, req, bodyText, res);
      }
      if (rest === '/google-admin' && req.method === 'PUT') {
        const update = JSON.parse(bodyText) as {
          publicJwk?: JWK;
          clientEmail?: string;
          existing?: string[];
          lookupMode?: GoogleAdmin['lookupMode'];
        };
        if (update.publicJwk) scenario.admin.publicJwk = update.publicJwk;
        if (update.clientEmail) scenario.admin.clientEmail = update.clientEmail;
        if (update.existing) scenario.admin.existing = new Set(update.existing);
        if (update.lookupMode) scenario.admin.lookupMode = update.lookupMode;
        return send(res, 200, { ok: true });
      }
      if (rest === '/google-admin' && req.method === 'GET') {
        const { grants, lookups, rejectedAssertions } = scenario.admin;
        return send(res, 200, { grants, lookups, rejectedAssertions });
      }
      const stream = scenario.stream;
      if (rest === '/stream-control/requests') return send(res, 200, stream.requests);
      if (rest === '/stream-control/script' && req.method === 'POST') {
        stream.script.push(...(JSON.parse(bodyText) as StreamStandIn['script']));
        return send(res, 200, { ok: true });
      }
      if (rest === '/stream-control/users' && req.method === 'POST') {
        for (const user of JSON.parse(bodyText) as Record<string, unknown>[]) stream.users.set(user.id as string, user);
        return send(res, 200, { ok: true });
      }
      if (rest === '/stream-control/tasks' && req.method === 'PUT') {
        const update = JSON.parse(bodyText) as { runningPolls?: number; failUids?: string[] };
        if (update.runningPolls !== undefined) stream.taskRunningPolls = update.runningPolls;
        if (update.failUids !== undefined) stream.failDeletes = new Set(update.failUids);
        return send(res, 200, { ok: true });
      }
      if (rest === '/stream-control/users' && req.method === 'GET') {
        return send(res, 200, { users: [...stream.users.values()], deleted: [...stream.deleted] });
      }
      if (rest.startsWith('/stream/')) {
        const answer = await stream.handle({
          method: req.method ?? 'GET',
          path: rest.slice('/stream'.length),
          query: Object.fromEntries(url.searchParams),
          headers: req.headers,
          bodyText,
        });
        res.writeHead(answer.status, answer.headers);
        return void res.end(answer.body);
      }
      return send(res, 404, { error: `no fixture route ${req.method} ${rest}` });
    } catch (error) {
      send(res, 500, { error: error instanceof Error ? error.message : String(error) });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

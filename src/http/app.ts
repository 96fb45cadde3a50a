import type { Context, MiddlewareHandler } from 'hono';
import { Hono } from 'hono/tiny';
import type { Env } from '../env';
import { AppError, toAppError } from '../errors';
import type { AppCheckGate } from '../firebase/app-check';
import { isLoopbackOrigin } from '../platform/loopback';
import type { IdTokenVerifier } from '../firebase/verify-id-token';
import type { Reconciliation } from '../reconcile/types';
import type { IssuedToken, TokenService } from '../token-service';
import type { DoctorReport } from '../doctor';
import type { Metrics } from '../platform/metrics';
import { createAdminRoutes } from './admin';
import { authenticate } from './auth';
import { bodyLimit } from './body-limit';
import { clientAddressKey } from './client-address';
import type { CorsPolicy } from '../config/config';
import { corsMiddleware } from './cors';
import type { RevokeAnswer } from './answers';
import { callableResult, errorResponse, json, type Protocol } from './respond';
import { handleDeletionEvent, type DeletionEventsDeps } from './events';
import { log } from '../platform/log';

const MAX_BODY_BYTES = 64 * 1024;

type AppEnv = { Bindings: Env; Variables: { protocol: Protocol; stream: boolean; errorCode?: string } };
export type App = Hono<AppEnv>;

/** Callable routes, named like the original Cloud Functions (drop-in for `httpsCallableFromUrl`). */
const CALLABLE_PATHS = [
  '/createStreamUserAndGetToken',
  '/getStreamUserToken',
  '/revokeStreamUserToken',
  '/deleteStreamUser',
  // The names of Stream's own Firebase extension (auth-chat), so an app moving off it changes one line per call.
  '/ext-auth-chat-getStreamUserToken',
  '/ext-auth-chat-revokeStreamUserToken',
] as const;

/** REST routes, every one a POST. */
const REST_PATHS = ['/v1/users/me', '/v1/token', '/v1/token/revoke', '/v1/users/me/delete'] as const;
/** Admin routes (src/http/admin.ts), by the one method each answers. */
const ADMIN_POST_PATHS = ['/v1/admin/users/delete', '/v1/admin/registry/import', '/v1/admin/reconcile/run'] as const;
const ADMIN_GET_PATHS = ['/v1/admin/reconcile/status', '/v1/admin/doctor'] as const;
/** The Pub/Sub push endpoint for deletion events (src/http/events.ts). */
const EVENTS_PATH = '/v1/events/user-deleted';

const ROUTES: ReadonlySet<string> = new Set([
  '/',
  ...CALLABLE_PATHS,
  ...REST_PATHS,
  '/healthz',
  ...ADMIN_POST_PATHS,
  ...ADMIN_GET_PATHS,
  EVENTS_PATH,
]);

/** `GET /`: a pointer, not a page. */
const INDEX = {
  service: 'stream-token-edge',
  about: 'Stream Chat user tokens for Firebase-authenticated users: send "Authorization: Bearer <Firebase ID token>"',
  routes: {
    rest: REST_PATHS.map((path) => `POST ${path}`),
    callable: CALLABLE_PATHS.map((path) => `POST ${path}`),
    health: 'GET /healthz',
  },
  docs: ['docs/http-api.md', 'docs/clients.md'],
};

/**
 * The route a path is served by: the router serves `/x/` as `/x`, as Cloud
 * Functions serves a function's URL with a trailing slash, so both answer
 * alike, errors included.
 */
function routePath(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** The path as a metric label: one of the app's routes, or `other`. */
function routeLabel(path: string): string {
  const route = routePath(path);
  return ROUTES.has(route) ? route : 'other';
}

/** Which protocol's format a path answers in. */
function protocolOf(path: string): Protocol {
  return (CALLABLE_PATHS as readonly string[]).includes(routePath(path)) ? 'callable' : 'rest';
}

/**
 * How a request is answered: its protocol, and whether a callable streams
 * (firebase-functions v2 streams exactly when `Accept` is `text/event-stream`;
 * only a POST can call a function, so another method gets its plain 405).
 */
export function answerFormat(request: Request, path = new URL(request.url).pathname): { protocol: Protocol; stream: boolean } {
  const protocol = protocolOf(path);
  const accept = request.headers.get('Accept')?.trim().toLowerCase();
  return { protocol, stream: protocol === 'callable' && request.method === 'POST' && accept === 'text/event-stream' };
}

/** What the HTTP layer needs, built by the composition root (src/index.ts). */
interface AppDeps {
  tokens: TokenService;
  verifyIdToken: IdTokenVerifier;
  cors: CorsPolicy;
  /** Returned with every token, so a client needs no other configuration. */
  streamApiKey: string;
  /** undefined = admin routes off. */
  adminToken: string | undefined;
  /** Emulator mode: requests from non-loopback browser origins are refused. */
  emulatorMode: boolean;
  /** Firebase App Check on every route that issues tokens or calls Stream; undefined = off. */
  appCheck?: AppCheckGate;
  reconciliation: Reconciliation;
  /** One data point per answer (nothing without the METRICS binding). */
  metrics: Metrics;
  /** The admin doctor (GET /v1/admin/doctor). */
  doctor: () => Promise<DoctorReport>;
  /** What the configuration's reading warned about (settings named, never values), shown by /healthz. */
  configWarnings: readonly string[];
  /** Deletion events by Pub/Sub push; undefined = the route is off (404). */
  deletionEvents?: DeletionEventsDeps;
}

/**
 * The HTTP surface: thin wiring of middleware and routes over TokenService.
 * Each route parses, calls one service method and maps the result; the rules
 * live in the services. Built once per isolate and configuration by src/index.ts.
 */
export function createApp(deps: AppDeps): App {
  const app = new Hono<AppEnv>();
  const { tokens } = deps;

  app.use('*', async (c, next) => {
    const format = answerFormat(c.req.raw, c.req.path);
    c.set('protocol', format.protocol);
    c.set('stream', format.stream);
    await next();
    if (deps.metrics.on) {
      // A route this app serves, never a raw path (a caller chooses those); the data centre from request.cf.
      const colo = (c.req.raw as Request & { cf?: { colo?: unknown } }).cf?.colo;
      deps.metrics.answer(
        routeLabel(c.req.path),
        c.get('protocol'),
        c.res.status,
        c.get('errorCode') ?? '',
        typeof colo === 'string' ? colo : '',
      );
    }
  });
  if (deps.emulatorMode) app.use('*', localPagesOnly);
  app.use('*', corsMiddleware(deps.cors));
  app.use('*', bodyLimit(MAX_BODY_BYTES));

  // Serving, safely; a setting that was ignored (emulator mode refused) is still said, never its value.
  const health = deps.configWarnings.length > 0 ? { status: 'ok', warnings: deps.configWarnings } : { status: 'ok' };
  app.get('/healthz', () => json(health));
  allowOnly(app, '/healthz', ['GET', 'HEAD']);
  // Whoever opens the Worker's URL in a browser learns what it serves and where it is documented; admin routes unnamed.
  app.get('/', () => json(INDEX));
  allowOnly(app, '/', ['GET', 'HEAD']);

  // Firebase callable protocol: {"data": …} in, {"result": …} out (streamed as one event when asked to).
  const callable = (handler: (c: Context<AppEnv>) => Promise<unknown>) => async (c: Context<AppEnv>) => {
    await readCallableRequest(c.req.raw);
    return callableResult(await handler(c), c.get('stream'));
  };
  const background = (c: Context<AppEnv>) => (promise: Promise<unknown>) => c.executionCtx.waitUntil(promise);
  const caller = async (c: Context<AppEnv>) => {
    await deps.appCheck?.check(c.req.header('X-Firebase-AppCheck') ?? null, background(c));
    return authenticate(c.req.raw, deps.verifyIdToken, background(c));
  };
  // The client's address as Cloudflare sets it (absent locally), keyed for the per-address write budget: IPv6 by its /64.
  const clientIp = (c: Context<AppEnv>) => clientAddressKey(c.req.header('CF-Connecting-IP'));
  const create = async (c: Context<AppEnv>) => tokens.createUserAndIssueToken(await caller(c), background(c), clientIp(c));
  const issue = async (c: Context<AppEnv>) => tokens.issueToken(await caller(c), background(c), clientIp(c));
  const revoke = async (c: Context<AppEnv>): Promise<RevokeAnswer> => ({
    revoked_before: (await tokens.revokeTokens(await caller(c), background(c), clientIp(c))).revokedBefore.toISOString(),
  });
  const deleteSelf = async (c: Context<AppEnv>) => tokens.deleteStreamUser(await caller(c), clientIp(c));

  app.post(
    '/createStreamUserAndGetToken',
    callable(async (c) => (await create(c)).token),
  );
  const getToken = callable(async (c) => (await issue(c)).token);
  const revokeTokens = callable(revoke);
  app.post('/getStreamUserToken', getToken);
  app.post('/revokeStreamUserToken', revokeTokens);
  app.post('/ext-auth-chat-getStreamUserToken', getToken);
  app.post('/ext-auth-chat-revokeStreamUserToken', revokeTokens);
  // The original's auth trigger, now called by the app right after it deletes the Firebase account.
  app.post('/deleteStreamUser', callable(deleteSelf));
  for (const path of CALLABLE_PATHS) allowOnly(app, path, ['POST']);

  // REST, for any HTTP client.
  const tokenBody = (issued: IssuedToken, extra: Record<string, unknown> = {}) =>
    json({
      token: issued.token,
      user_id: issued.userId,
      api_key: deps.streamApiKey,
      expires_at: issued.expiresAt === null ? null : issued.expiresAt.toISOString(),
      ...extra,
    });
  app.post('/v1/users/me', async (c) => {
    const issued = await create(c);
    return tokenBody(issued, { user: issued.user });
  });
  app.post('/v1/token', async (c) => tokenBody(await issue(c)));
  app.post('/v1/token/revoke', async (c) => json(await revoke(c)));
  // 200 when the Stream user is gone (or the uid was never registered); 202 when nothing was deleted
  // yet (the account still exists, or the deletion is still running) and the next run takes over.
  app.post('/v1/users/me/delete', async (c) => {
    const answer = await deleteSelf(c);
    const done = answer.deleted ? answer.completed : answer.reason === 'not_registered';
    return json(answer, done ? 200 : 202);
  });
  for (const path of REST_PATHS) allowOnly(app, path, ['POST']);

  const admin = createAdminRoutes(deps.adminToken, deps.reconciliation, deps.doctor);
  if (admin) {
    app.route('/v1/admin', admin);
    for (const path of ADMIN_POST_PATHS) allowOnly(app, path, ['POST']);
    for (const path of ADMIN_GET_PATHS) allowOnly(app, path, ['GET']);
  }

  const events = deps.deletionEvents;
  if (events) {
    app.post(EVENTS_PATH, async (c) => handleDeletionEvent(c.req.raw, events, background(c)));
    allowOnly(app, EVENTS_PATH, ['POST']);
  }

  app.notFound(() => {
    throw new AppError('not_found', 'No such route');
  });
  app.onError((error, c) => {
    c.set('errorCode', toAppError(error).code);
    return errorResponse(error, c.get('protocol') ?? 'rest', c.get('stream') ?? false);
  });
  return app;
}

/**
 * Emulator mode serves only pages of this machine, whatever CORS_ALLOWED_ORIGINS
 * says: a request with any other `Origin` gets 403 before anything is read or
 * signed. Requests without `Origin` (curl, mobile apps, tests) are not browsers' and pass.
 */
const localPagesOnly: MiddlewareHandler = async (c, next) => {
  const origin = c.req.header('Origin');
  if (origin !== undefined && !isLoopbackOrigin(origin)) {
    log.error('emulator_origin_refused', { reason: 'emulator mode serves only pages from this machine' });
    throw new AppError('forbidden', 'Emulator mode answers only pages served from this machine (localhost, 127.0.0.0/8, [::1])');
  }
  await next();
};

/** After a path's real routes: every other method is a 405 naming the allowed ones. */
function allowOnly(app: Hono<AppEnv>, path: string, methods: string[]): void {
  app.all(path, () => {
    throw new AppError('method_not_allowed', `Use ${methods.join(' or ')}`, { headers: { Allow: methods.join(', ') } });
  });
}

/**
 * The callable protocol's request check (as firebase-functions' isValidRequest
 * does it): POST, `Content-Type: application/json`, a JSON object body with a
 * `data` field and no other. The data itself is not used by these functions.
 */
async function readCallableRequest(request: Request): Promise<void> {
  const contentType = request.headers.get('Content-Type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(contentType)) {
    throw new AppError('invalid_request', 'Callable requests must have Content-Type: application/json');
  }
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    throw new AppError('invalid_request', 'Request body is not valid JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !('data' in body)) {
    throw new AppError('invalid_request', 'Callable request body must be a JSON object with a "data" field');
  }
  const extra = Object.keys(body).filter((field) => field !== 'data');
  if (extra.length > 0) throw new AppError('invalid_request', 'Callable request body must have no field but "data"');
}

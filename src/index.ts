/**
 * The composition root, and the only module that reads configuration.
 *
 * Per isolate and env object, the settings are parsed once and everything is
 * built here: the Google key cache, the Stream client, the registry, the
 * token service, reconciliation and the HTTP app. Every deliberate
 * per-isolate cache (keys, profiles, recorded uids, service account token)
 * lives in what this builds, not in module state elsewhere.
 *
 * @module
 */
import { env as startupEnv } from 'cloudflare:workers';
import { ConfigError, parseConfig, type Config, type DeletionEventsSettings } from './config/config';
import { runDoctor } from './doctor';
import type { Env } from './env';
import { AppError } from './errors';
import { AccountStatusCheck } from './firebase/account-status';
import { AppCheckGate, verifyAppCheckToken } from './firebase/app-check';
import { FirebaseAdminClient } from './firebase/admin-api';
import { EmulatorFence } from './firebase/emulator';
import { GoogleKeyStore } from './firebase/google-keys';
import { CacheApiKeySetCache, KEY_SET_PURPOSE } from './firebase/key-set-cache';
import { ServiceAccountTokenSource } from './firebase/service-account';
import { unverifiedSubject } from './firebase/jws';
import { verifyFirebaseIdToken } from './firebase/verify-id-token';
import { answerFormat, createApp, type App } from './http/app';
import type { DeletionEventsDeps } from './http/events';
import { verifyPushToken } from './events/push-token';
import { errorResponse, json } from './http/respond';
import { Meter } from './platform/meter';
import { Metrics } from './platform/metrics';
import { SignedCache } from './platform/signed-cache';
import { consume } from './reconcile/queue';
import { reconcile } from './reconcile/reconcile';
import type { ReconcileMessage, Reconciliation } from './reconcile/types';
import { NearRegistry, type TenantRowsCopy } from './registry/near-registry';
import { UserRegistry } from './registry/registry';
import { RegistryWriteBehind, recordQueuedRegistrations, type RegisterMessage } from './registry/write-behind';
import { StreamRestClient } from './stream/rest-client';
import { BatcherClient, SignupBatcher } from './stream/signup-batcher';
import { StreamTokenSigner } from './stream/tokens';
import { UserWriter } from './stream/user-writer';
import { TokenService } from './token-service';
import { isValidStreamUserId } from './user-id';
import type { Background } from './platform/io';
import { log, errorText } from './platform/log';

export interface Built {
  config: Config;
  app: App;
  reconciliation: Reconciliation;
  metrics: Metrics;
  /** The registry and its near copies; undefined without a D1 binding. */
  registry: UserRegistry | undefined;
  near: NearRegistry | undefined;
  writeBehind: RegistryWriteBehind | undefined;
}

const built = new WeakMap<object, Built>();
/** Entries whose configuration warnings were logged: once each, from a request, where logs are kept. */
const warned = new WeakSet<Built>();
/** Key stores by JWKS URL (and the secret that signs their shared copy): the same keys serve every env object of the isolate. */
const keyStores = new Map<string, GoogleKeyStore>();

/**
 * Everything for this env object: built while the isolate started when the
 * env has the same bindings as the module's, else on first use; reused for
 * the life of the isolate. A ConfigError is not cached, so a fixed secret
 * takes effect on the next request.
 */
export function build(env: Env, prefetchKeys?: Background): Built {
  let entry = built.get(env);
  if (!entry) {
    const early = atStartup !== undefined && sameBindings(env, atStartup.env) ? atStartup.entry : undefined;
    const config = early?.config ?? parseConfig(env);
    // A fresh isolate's first request: start reading the ID-token keys' data centre copy now, so the read
    // overlaps building everything below and parsing the request: a faster first request.
    if (prefetchKeys) keyStoreFor(config.firebaseJwksUrl, config.streamApiSecret).prefetch(prefetchKeys);
    entry = early ?? compose(config, env);
    built.set(env, entry);
    // Logged here, not while building: a line written at isolate start-up reaches no log a deployer sees.
    if (!warned.has(entry)) {
      warned.add(entry);
      for (const { event, ...fields } of entry.config.warnings) log.error(event, fields);
    }
  }
  return entry;
}

/**
 * Requests hand in an env object of their own, but with the very bindings the
 * module's env (`cloudflare:workers`) had at start-up: the same vars, the same binding objects.
 */
function sameBindings(a: Env, b: Env): boolean {
  const keys = Object.keys(a) as (keyof Env)[];
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

/**
 * Everything built while the isolate starts, from the module's env, so the
 * first request finds it ready: Cloudflare starts an isolate while the
 * client's TLS handshake is under way, so this makes the first request faster.
 * Only CPU work: no I/O is allowed, or needed, before a request. A broken
 * configuration builds nothing here; the first request reports it, as always.
 */
function composeAtStartup(): { env: Env; entry: Built } | undefined {
  const live = startupEnv as unknown as Record<string, unknown> | undefined;
  if (!live || typeof live !== 'object') return undefined;
  // A copy: the module's env is a live view, and the entry must be compared with what it was built from.
  const env = Object.fromEntries(Object.keys(live).map((key) => [key, live[key]])) as unknown as Env;
  try {
    return { env, entry: compose(parseConfig(env), env) };
  } catch (error) {
    // A bad configuration is the first request's to report; anything else is a bug worth a line.
    if (!(error instanceof ConfigError))
      log.error('unexpected_error', { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    return undefined;
  }
}

function compose(config: Config, env: Env): Built {
  const meter = new Meter();
  const metrics = new Metrics(env.METRICS);
  const signer = new StreamTokenSigner(config.streamApiSecret);
  const stream = new StreamRestClient({
    now: Date.now,
    baseUrl: config.streamBaseUrl,
    apiKey: config.streamApiKey,
    signer,
    fetch: meter.fetch(),
    ...(metrics.on
      ? { onCall: (operation: string, status: number, remaining: number | undefined) => metrics.streamCall(operation, status, remaining) }
      : {}),
  });
  const registry = env.DB ? new UserRegistry(meter.d1(env.DB)) : undefined;
  const near = registry ? new NearRegistry(registry, Date.now, tenantRowsCopy(config)) : undefined;
  const writeBehind = registry
    ? new RegistryWriteBehind({
        registry,
        queue: env.RECONCILE_QUEUE as Queue<RegisterMessage> | undefined,
        now: Date.now,
        onDeferred: (how) => metrics.registryDeferred(how),
      })
    : undefined;
  const firebase = firebaseAdminFor(config, meter.fetch());
  const keys = keyStoreFor(config.firebaseJwksUrl, config.streamApiSecret);
  const fence = new EmulatorFence(config.firebaseAuthEmulatorHost);

  let reconciliation: Reconciliation;
  if (!registry) reconciliation = { on: false, reason: 'no D1 binding "DB"' };
  else if (!firebase) reconciliation = { on: false, reason: 'neither GOOGLE_SERVICE_ACCOUNT nor FIREBASE_AUTH_EMULATOR_HOST is set' };
  else
    reconciliation = {
      on: true,
      deps: { registry, firebase, stream, settings: config.reconcile, queue: env.RECONCILE_QUEUE, meter, now: Date.now },
    };

  const writer = new UserWriter({ now: Date.now, stream });
  const tokens = new TokenService({
    settings: {
      ttlSeconds: config.streamTokenTtlSeconds,
      userFields: config.streamUserFields,
      profileCacheSeconds: config.streamProfileCacheSeconds,
      tenants: config.tenants,
      access: config.access,
      writeLimitPeriodSeconds: config.writeLimitPeriodSeconds,
      anonymous: config.anonymous,
    },
    signer,
    stream,
    registry: registry && near && writeBehind ? { store: registry, near, writeBehind } : undefined,
    writeLimiter: env.STREAM_WRITE_LIMITER,
    ipLimiter: env.STREAM_WRITE_IP_LIMITER,
    // Without the SIGNUP_BATCHER object each write makes its own requests: a stateless Worker cannot share I/O between
    // requests. With it, this isolate's writer is the fallback when the object is unavailable.
    now: Date.now,
    writer: env.SIGNUP_BATCHER
      ? new BatcherClient(env.SIGNUP_BATCHER, { baseUrl: config.streamBaseUrl, apiKey: config.streamApiKey }, writer)
      : writer,
    accountStatus:
      config.checkRevoked && firebase
        ? new AccountStatusCheck({ now: Date.now, client: firebase, cacheSeconds: config.checkRevoked.cacheSeconds })
        : undefined,
    reconcile: reconciliation.on ? reconciliation.deps : undefined,
  });
  const app = createApp({
    tokens,
    verifyIdToken: (idToken, { requestUrl, waitUntil }) => {
      // A cold isolate reads the uid's registry entry while the keys load, not after them.
      if (near && !keys.warm) {
        const uid = unverifiedSubject(idToken);
        if (uid !== undefined && isValidStreamUserId(uid)) near.prefetch(uid);
      }
      return verifyFirebaseIdToken(idToken, {
        projectId: config.firebaseProjectId,
        issuer: config.firebaseIssuer,
        getKey: (kid) => keys.getKey(kid, waitUntil),
        acceptUnsigned: fence.allows(requestUrl),
      });
    },
    cors: config.cors,
    streamApiKey: config.streamApiKey,
    adminToken: config.adminToken,
    emulatorMode: config.firebaseAuthEmulatorHost !== undefined,
    appCheck: appCheckGate(config),
    reconciliation,
    metrics,
    configWarnings: config.warnings.map((warning) => warning.reason),
    ...(config.deletionEvents
      ? { deletionEvents: deletionEventsRoute(config.deletionEvents, reconciliation, config.streamApiSecret) }
      : {}),
    doctor: () =>
      runDoctor({
        warnings: config.warnings,
        cors: config.cors,
        stream,
        firebase,
        firebaseKeys: keys,
        appCheckKeys: config.appCheck ? keyStoreFor(config.appCheck.jwksUrl, config.streamApiSecret) : undefined,
        db: env.DB,
        bindings: {
          SIGNUP_BATCHER: env.SIGNUP_BATCHER !== undefined,
          STREAM_WRITE_LIMITER: env.STREAM_WRITE_LIMITER,
          STREAM_WRITE_IP_LIMITER: env.STREAM_WRITE_IP_LIMITER,
          RECONCILE_QUEUE: env.RECONCILE_QUEUE !== undefined,
        },
        reconciliation,
        emulatorMode: config.firebaseAuthEmulatorHost !== undefined,
        deletionEvents: config.deletionEvents
          ? { settings: config.deletionEvents, keys: keyStoreFor(config.deletionEvents.jwksUrl, config.streamApiSecret) }
          : undefined,
        now: Date.now,
      }),
  });
  return { config, app, reconciliation, metrics, near, writeBehind, registry };
}

/** App Check around its own key cache (same rules as the ID-token keys), or nothing when APP_CHECK is off. */
function appCheckGate(config: Config): AppCheckGate | undefined {
  if (!config.appCheck) return undefined;
  const { mode, rules, jwksUrl } = config.appCheck;
  const keys = keyStoreFor(jwksUrl, config.streamApiSecret);
  return new AppCheckGate(mode, (token, waitUntil) => verifyAppCheckToken(token, rules, (kid) => keys.getKey(kid, waitUntil)));
}

/** The push route's token check: Google's OIDC keys in a cache of their own (same rules as the ID-token keys). */
function deletionEventsRoute(settings: DeletionEventsSettings, reconciliation: Reconciliation, secret: string): DeletionEventsDeps {
  const keys = keyStoreFor(settings.jwksUrl, secret);
  return {
    verify: (token, waitUntil) => verifyPushToken(token, { ...settings, getKey: (kid) => keys.getKey(kid, waitUntil) }),
    reconciliation,
  };
}

/**
 * "Does the registry hold tenant-bound rows?", kept in the data centre's cache (signed, an hour), so an
 * isolate that starts during a D1 outage knows whether it may serve uids it cannot look up. Keyed by the
 * Firebase project and the Stream app: a Worker cannot name its D1 database, and two databases serving the
 * same users of the same Stream app would already disagree about who exists (staging and production on one
 * zone use different Stream apps).
 */
function tenantRowsCopy(config: Config): TenantRowsCopy | undefined {
  if (typeof caches === 'undefined') return undefined;
  const cache = new SignedCache(caches.default, config.streamApiSecret, 'registry tenant rows v1');
  const url = `https://stream-token-edge.internal/registry/tenant-rows/${encodeURIComponent(config.firebaseProjectId)}/${encodeURIComponent(config.streamApiKey)}`;
  return {
    get: async () => {
      const body = await cache.get(url);
      return body === 'true' ? true : body === 'false' ? false : undefined;
    },
    put: (tenantRows) => cache.put(url, String(tenantRows), 3600),
  };
}

/**
 * `secret` signs the data centre's copy (src/platform/signed-cache.ts): any
 * secret of this Worker will do, and STREAM_API_SECRET is the one it always has.
 */
function keyStoreFor(url: string, secret: string): GoogleKeyStore {
  const id = `${url}\n${secret}`;
  let store = keyStores.get(id);
  if (!store) {
    // The data centre's copy, where the runtime has one (Cloudflare: only on custom domains).
    const shared =
      typeof caches === 'undefined' ? undefined : new CacheApiKeySetCache(new SignedCache(caches.default, secret, KEY_SET_PURPOSE));
    store = new GoogleKeyStore({ now: Date.now, url, shared });
    keyStores.set(id, store);
  }
  return store;
}

/** The emulator when FIREBASE_AUTH_EMULATOR_HOST is set (loopback only), else the service account, else nothing. */
function firebaseAdminFor(config: Config, fetch: typeof globalThis.fetch): FirebaseAdminClient | undefined {
  if (config.firebaseAuthEmulatorHost) {
    return new FirebaseAdminClient({
      projectId: config.firebaseProjectId,
      baseUrl: `http://${config.firebaseAuthEmulatorHost}/identitytoolkit.googleapis.com`,
      authorization: async () => 'Bearer owner',
      fetch,
    });
  }
  if (config.serviceAccount) {
    const tokens = new ServiceAccountTokenSource(config.serviceAccount, { now: Date.now, fetch });
    return new FirebaseAdminClient({
      projectId: config.firebaseProjectId,
      baseUrl: config.identityToolkitUrl,
      authorization: async () => `Bearer ${await tokens.accessToken()}`,
      fetch,
    });
  }
  return undefined;
}

/** The Durable Object class behind the SIGNUP_BATCHER binding (wrangler.toml). */
export { SignupBatcher };

export default {
  async fetch(request, env, ctx): Promise<Response> {
    let entry: Built;
    try {
      // Only POSTs verify ID tokens: a health check or a preflight has no use for the keys.
      entry = build(env, request.method === 'POST' ? (promise) => ctx.waitUntil(promise) : undefined);
    } catch (error) {
      return misconfigured(request, error);
    }
    const { app } = entry;
    return entry.metrics.invocation(() => app.fetch(request, env, ctx));
  },

  /** Cron: deleted Firebase users are deleted from Stream (src/reconcile/). */
  async scheduled(_controller, env, _ctx): Promise<void> {
    const { reconciliation, metrics } = build(env); // a config error throws here and shows as a failed cron run
    if (!reconciliation.on) {
      log.error('reconcile_skipped', { reason: reconciliation.reason });
      return;
    }
    await metrics.invocation(async () => {
      const summary = await reconcile(reconciliation.deps);
      metrics.reconcileRun(summary);
      // Logged already; thrown too, so the failure shows as a failed cron run rather than a green one.
      if (summary.error) throw new Error(`reconciliation stopped: ${summary.error}`);
    });
  },

  /** Queue mode's consumer: lookup batches the cron enqueued (src/reconcile/queue.ts). */
  async queue(batch, env, _ctx): Promise<void> {
    const { reconciliation, registry, metrics } = build(env);
    // Registrations a D1 outage deferred (src/registry/write-behind.ts) need only the registry.
    const registrations = batch.messages.filter((message) => (message.body as { kind?: unknown } | null)?.kind === 'register');
    if (registrations.length > 0) {
      if (registry) await recordQueuedRegistrations(registrations, registry, env.RECONCILE_QUEUE as Queue<RegisterMessage> | undefined);
      else for (const message of registrations) message.retry({ delaySeconds: 300 });
      if (registrations.length === batch.messages.length) return;
      const rest = batch.messages.filter((message) => !registrations.includes(message));
      batch = {
        queue: batch.queue,
        messages: rest,
        retryAll: (options?: QueueRetryOptions) => rest.forEach((message) => message.retry(options)),
        ackAll: () => rest.forEach((message) => message.ack()),
        metadata: batch.metadata,
      } as typeof batch;
    }
    if (!reconciliation.on) {
      log.error('reconcile_skipped', { reason: reconciliation.reason });
      batch.retryAll({ delaySeconds: 300 }); // nothing is lost: the messages come back once it is configured
      return;
    }
    await metrics.invocation(async () => metrics.reconcileRun(await consume(batch, reconciliation.deps)));
  },
} satisfies ExportedHandler<Env, ReconcileMessage>;

/**
 * A broken configuration names its settings in the log and in /healthz, never
 * their values; requests get a 500 that points whoever runs the Worker there.
 */
function misconfigured(request: Request, error: unknown): Response {
  const settings = error instanceof ConfigError ? error.settings : [];
  log.error('invalid_config', { error: errorText(error) });
  const path = new URL(request.url).pathname;
  if (path === '/healthz') return json({ status: 'misconfigured', settings }, 503);
  const { protocol, stream } = answerFormat(request, path);
  return errorResponse(
    new AppError('misconfigured', "This service's configuration is invalid: GET /healthz names the settings to fix"),
    protocol,
    stream,
  );
}

// Last, once everything above is initialised.
const atStartup = composeAtStartup();

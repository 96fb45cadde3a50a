/**
 * One simulated deployment: the real Worker (its default export, the same
 * `fetch`, `scheduled` and `queue` handlers `exports.default` serves) with
 * bindings that point at the in-memory world (test/sim/stand-ins.ts), a D1
 * registry that can fail, a queue the simulation delivers by hand, a
 * per-uid write limiter, and a clock the simulation advances.
 *
 * It also keeps what the invariants are checked against: every token
 * issued and to whom, every revoke answered, and the violations found.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env as baseEnv } from 'cloudflare:workers';
import { exportJWK, SignJWT } from 'jose';
import { AppError, CALLABLE_HTTP_STATUS, type ErrorCode } from '../../src/errors';
import type { Env } from '../../src/env';
import worker from '../../src/index';
import type { ReconcileMessage } from '../../src/reconcile/types';
import {
  accountKey,
  EMULATOR_HOST,
  RIGHT_PROJECT,
  SERVICE_ACCOUNT_KID,
  SimFirebase,
  SimGoogle,
  SimStream,
  STREAM_API_KEY,
  STREAM_SECRET,
  WRONG_PROJECT,
  type Account,
} from './stand-ins';

export const ADMIN_TOKEN = 'sim-admin-token-0123456789abcdef0123456789';
const PUSH_AUDIENCE = 'https://worker.sim/v1/events/user-deleted';
const PUSH_ACCOUNT = 'pubsub-push@sim.iam.gserviceaccount.com';

export interface SimConfig {
  project: 'right' | 'wrong';
  access: 'service-account' | 'emulator' | 'wrong-credentials';
  tenants: string[];
  dryRun: boolean;
  deleteMode: 'soft' | 'pruning' | 'hard,messages,channels';
  queue: boolean;
  roleClaim: boolean;
  teamsClaim: boolean;
  checkRevoked: boolean;
  batchSize: number;
  maxBatches: number;
  maxDeletes: number;
}

export const GOOD_CONFIG: SimConfig = {
  project: 'right',
  access: 'service-account',
  tenants: ['blue'],
  dryRun: false,
  deleteMode: 'soft',
  queue: false,
  roleClaim: false,
  teamsClaim: false,
  checkRevoked: false,
  batchSize: 3,
  maxBatches: 2,
  maxDeletes: 4,
};

/** Keys made once per test file: RSA key generation is the slow part. */
export interface Keys {
  google: { kid: string; privateKey: CryptoKey; publicJwk: Record<string, unknown> & { kid: string } }[];
  serviceAccountPem: string;
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export interface IssuedToken {
  uid: string;
  tenant: string;
  token: string;
  issuedAt: number;
}

const ERROR_CODES: ErrorCode[] = [
  'missing_authorization',
  'invalid_token',
  'invalid_request',
  'unsupported_uid',
  'payload_too_large',
  'not_found',
  'method_not_allowed',
  'keys_unavailable',
  'stream_failed',
  'firebase_failed',
  'forbidden',
  'tenant_not_allowed',
  'tenant_mismatch',
  'user_deleted',
  'registry_unavailable',
  'rate_limited',
  'user_not_found',
  'user_disabled',
  'token_revoked',
  'firebase_unavailable',
  'app_check_failed',
  'stream_unavailable',
  'invalid_admin_token',
  'misconfigured',
  'internal',
];

/** How long after every fault is off the system must be healthy again (caches of Stream's rate limit, key backoff). */
export const RECOVERY_MS = 120_000;

let sequence = 0;

/** What the simulation exercised, over all sequences: answers by route, status and code; deletes; connects. */
export const coverage = new Map<string, number>();
export function count(what: string): void {
  coverage.set(what, (coverage.get(what) ?? 0) + 1);
}

export class World {
  readonly firebase = new SimFirebase();
  readonly google = new SimGoogle();
  readonly stream: SimStream;
  config: SimConfig;
  env!: Env;
  storageDown = false;
  /** While set, D1's read replica answers from this old view (see faultyDb). */
  replicaLag: ReplicaLag | undefined;
  /** When the last fault was switched off (the system must be healthy RECOVERY_MS later). */
  faultsOffSince = 0;
  readonly queued: { id: string; body: ReconcileMessage; attempts: number }[] = [];
  readonly delivered: { id: string; body: ReconcileMessage }[] = [];
  readonly issued: IssuedToken[] = [];
  /** Caller tenants served a token, or whose request wrote the Stream user, per uid. */
  readonly servedTenants = new Map<string, Set<string>>();
  readonly revokes: { uid: string; startedAt: number }[] = [];
  /** When the last revoke attempt for a uid ended, whatever its answer. */
  readonly lastRevokeEnded = new Map<string, number>();
  /** Accounts that ever existed, for honest imports. */
  readonly everCreated = new Set<string>();
  readonly violations: string[] = [];
  readonly trace: string[] = [];
  readonly #idTokens = new Map<string, { token: string; exp: number; version: number; kid: string }>();
  readonly #limiter = new Map<string, number[]>();
  readonly #jwksUrl = `https://google.sim/jwks/${++sequence}`;
  /** Deletion events Pub/Sub holds: published but not yet delivered, or answered with a redelivery. */
  readonly pendingEvents: { uid: string; tenant: string }[] = [];
  #messages = 0;

  constructor(
    readonly keys: Keys,
    config: SimConfig,
  ) {
    this.stream = new SimStream(() => Date.now());
    this.google.published = [keys.google[0]!];
    this.config = config;
    this.reconfigure(config);
  }

  get now(): number {
    return Date.now();
  }

  advance(ms: number): void {
    vi_setSystemTime(Date.now() + ms);
  }

  /** Faults that make failures legitimate; none on and the configuration right means every request must work. */
  get healthy(): boolean {
    return (
      this.stream.fault === 'none' &&
      (this.stream.taskMode === 'complete' || this.stream.taskMode === 'pending') &&
      this.google.fault === 'none' &&
      this.firebase.lookupFault === 'none' &&
      !this.storageDown &&
      this.config.project === 'right' &&
      this.config.access !== 'wrong-credentials' &&
      this.now - this.faultsOffSince >= RECOVERY_MS
    );
  }

  /** The replica falls behind: from now on it answers from the registry as it is now. */
  async startReplicaLag(): Promise<void> {
    const { results } = await baseEnv.DB.prepare('SELECT * FROM stream_users').all<Record<string, unknown>>();
    this.replicaLag = {
      rows: new Map(results.map((row) => [row.uid as string, row])),
      tenantRows: results.some((row) => row.tenant !== ''),
    };
  }

  faultSwitched(on: boolean): void {
    if (!on) this.faultsOffSince = this.now;
  }

  /** A new configuration is a new deployment: a new env object, so the Worker builds everything again. */
  reconfigure(config: SimConfig): void {
    this.config = config;
    const projectId = config.project === 'right' ? RIGHT_PROJECT : WRONG_PROJECT;
    const serviceAccount = JSON.stringify({
      type: 'service_account',
      project_id: projectId,
      private_key_id: config.access === 'wrong-credentials' ? 'revoked-key' : SERVICE_ACCOUNT_KID,
      private_key: this.keys.serviceAccountPem,
      client_email: `sim@${projectId}.iam.gserviceaccount.com`,
      token_uri: 'https://oauth.sim/token',
    });
    this.env = {
      ...baseEnv,
      SIGNUP_BATCHER: undefined,
      FIREBASE_PROJECT_ID: projectId,
      STREAM_API_KEY,
      STREAM_API_SECRET: STREAM_SECRET,
      STREAM_BASE_URL: 'https://stream.sim',
      FIREBASE_JWKS_URL: this.#jwksUrl,
      FIREBASE_TENANT_IDS: config.tenants.join(','),
      STREAM_ROLE_CLAIM: config.roleClaim ? 'stream_role' : '',
      STREAM_ALLOWED_ROLES: 'user,moderator',
      STREAM_TEAMS_CLAIM: config.teamsClaim ? 'stream_teams' : '',
      FIREBASE_CHECK_REVOKED: String(config.checkRevoked),
      ...(config.access === 'emulator'
        ? { FIREBASE_AUTH_EMULATOR_HOST: EMULATOR_HOST, GOOGLE_SERVICE_ACCOUNT: undefined }
        : {
            FIREBASE_AUTH_EMULATOR_HOST: undefined,
            GOOGLE_SERVICE_ACCOUNT: serviceAccount,
            FIREBASE_IDENTITY_TOOLKIT_URL: 'https://identitytoolkit.sim',
          }),
      DB: faultyDb(
        baseEnv.DB,
        () => this.storageDown,
        () => this.replicaLag,
      ),
      RECONCILE_QUEUE: config.queue ? this.#queueBinding() : undefined,
      STREAM_WRITE_LIMITER: { limit: async ({ key }: { key: string }) => ({ success: this.#allow(key) }) } as RateLimit,
      ADMIN_TOKEN,
      RECONCILE_DRY_RUN: String(config.dryRun),
      STREAM_DELETE_MODE: config.deleteMode,
      RECONCILE_BATCH_SIZE: String(config.batchSize),
      RECONCILE_MAX_BATCHES: String(config.maxBatches),
      RECONCILE_MAX_DELETES: String(config.maxDeletes),
      RECONCILE_DELETE_INTERVAL_MS: '0',
      RECONCILE_TASK_WAIT_MS: '1000',
      // Deletion events by Pub/Sub push; the sim's Google signs push tokens with its published keys.
      DELETION_EVENTS_AUDIENCE: PUSH_AUDIENCE,
      DELETION_EVENTS_SERVICE_ACCOUNT: PUSH_ACCOUNT,
      GOOGLE_OIDC_JWKS_URL: `${this.#jwksUrl}/oidc`,
    };
    this.stream.owned = new Set(['name', 'image', ...(config.roleClaim ? ['role'] : []), ...(config.teamsClaim ? ['teams'] : [])]);
  }

  /** STREAM_WRITE_LIMITER as configured in wrangler.toml: 10 per 60 s per key. */
  #allow(key: string): boolean {
    const recent = (this.#limiter.get(key) ?? []).filter((at) => at > this.now - 60_000);
    const allowed = recent.length < 10;
    if (allowed) recent.push(this.now);
    this.#limiter.set(key, recent);
    return allowed;
  }

  #queueBinding(): Queue<ReconcileMessage> {
    const push = (body: ReconcileMessage) => this.queued.push({ id: `m${++this.#messages}`, body: structuredClone(body), attempts: 1 });
    return {
      send: async (body: ReconcileMessage) => push(body),
      sendBatch: async (messages: Iterable<MessageSendRequest<ReconcileMessage>>) => {
        for (const message of messages) push(message.body);
      },
    } as unknown as Queue<ReconcileMessage>;
  }

  // --- Firebase accounts and their ID tokens ---

  signUp(tenant: string, uid: string, profile: { name?: string; picture?: string } = {}): void {
    const key = accountKey(tenant, uid);
    if (this.firebase.accounts.has(key)) return;
    this.firebase.accounts.set(key, { uid, tenant, disabled: false, ...profile, version: 1 });
    this.everCreated.add(key);
  }

  /** An ID token for the account, as the Firebase SDK hands one out (fresh when needed); a deleted account's last token while it lasts. */
  async idToken(tenant: string, uid: string): Promise<string | undefined> {
    const key = accountKey(tenant, uid);
    const account = this.firebase.get(tenant, uid);
    const cached = this.#idTokens.get(key);
    const signing = this.google.published[this.google.signing]!;
    if (!account) return cached && cached.exp * 1000 > this.now ? cached.token : undefined;
    if (account.disabled) return cached && cached.exp * 1000 > this.now ? cached.token : undefined; // the SDK cannot refresh it
    if (cached && cached.version === account.version && cached.kid === signing.kid && cached.exp * 1000 - this.now > 5 * 60_000)
      return cached.token;
    const token = await mintIdToken(account, signing, this.now);
    this.#idTokens.set(key, { token, exp: Math.floor(this.now / 1000) + 3600, version: account.version, kid: signing.kid });
    return token;
  }

  // --- the Worker ---

  /** One request through the Worker's fetch handler, with its background work finished. */
  async call(
    path: string,
    options: { idToken?: string; bearer?: string; callable?: boolean; admin?: boolean; body?: unknown } = {},
  ): Promise<Answer> {
    const headers = new Headers({ 'Content-Type': 'application/json' });
    if (options.idToken) headers.set('Authorization', `Bearer ${options.idToken}`);
    if (options.bearer) headers.set('Authorization', `Bearer ${options.bearer}`);
    if (options.admin) headers.set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    const body = options.callable ? JSON.stringify({ data: null }) : options.body === undefined ? undefined : JSON.stringify(options.body);
    const request = new Request(`https://worker.sim${path}`, { method: 'POST', headers, body }) as Request<
      unknown,
      IncomingRequestCfProperties
    >;
    const ctx = createExecutionContext();
    const response = await this.#bounded(`POST ${path}`, worker.fetch(request, this.env, ctx));
    await this.#bounded(`background work of POST ${path}`, waitOnExecutionContext(ctx));
    const text = await response.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.violations.push(`POST ${path} answered ${response.status} with a body that is not JSON`);
      parsed = {};
    }
    this.#checkAnswer(path, response.status, parsed, options.callable === true);
    const code = (parsed.code as string | undefined) ?? (parsed.error as { status?: string } | undefined)?.status ?? '';
    count(`${path} ${response.status}${code ? ` ${code}` : ''}`);
    return { status: response.status, body: parsed };
  }

  /**
   * One Pub/Sub push of a deletion event, as Google sends it (a signed OIDC
   * token, the envelope, `{uid, tenant}` as data). Answers what the Worker
   * answered; a non-2xx answer leaves the event with Pub/Sub, for a later
   * delivery, as its retry policy does.
   */
  async pushDeletionEvent(event: { uid: string; tenant: string }): Promise<Answer> {
    const signing = this.google.published[this.google.signing]!;
    const iat = Math.floor(this.now / 1000);
    const token = await new SignJWT({
      iss: 'https://accounts.google.com',
      aud: PUSH_AUDIENCE,
      email: PUSH_ACCOUNT,
      email_verified: true,
      sub: '42',
      iat,
      exp: iat + 3600,
    })
      .setProtectedHeader({ alg: 'RS256', kid: signing.kid, typ: 'JWT' })
      .sign(signing.privateKey);
    const data = btoa(JSON.stringify(event.tenant ? event : { uid: event.uid }));
    const answer = await this.call('/v1/events/user-deleted', {
      bearer: token,
      body: { message: { data, messageId: `e${++this.#messages}` }, subscription: 'projects/p/subscriptions/s' },
    });
    if (![200, 201, 202, 204].includes(answer.status)) this.pendingEvents.push(event);
    return answer;
  }

  /** The cron, as Cloudflare runs it; a run that stopped on a failure throws (a failed run, as documented). */
  async cron(): Promise<void> {
    const ctx = createExecutionContext();
    const controller = createScheduledController({ scheduledTime: this.now, cron: '*/15 * * * *' });
    await this.#bounded(
      'the cron',
      worker.scheduled!(controller, this.env, ctx).catch(() => undefined),
    );
    await this.#bounded("the cron's background work", waitOnExecutionContext(ctx));
  }

  /**
   * Delivers queued messages to the queue handler: `pick` chooses which and
   * in what order; `redeliver` sends an acknowledged one again (queues
   * deliver at least once). Up to 10 a batch, as wrangler.toml configures.
   */
  async deliver(mode: 'all' | 'first' | 'reverse' | 'redeliver'): Promise<void> {
    let batch: { id: string; body: ReconcileMessage; attempts: number }[];
    if (mode === 'redeliver') {
      const again = this.delivered[this.delivered.length - 1];
      batch = again ? [{ ...again, attempts: 1 }] : [];
    } else {
      const pending = mode === 'reverse' ? [...this.queued].reverse() : [...this.queued];
      batch = pending.slice(0, mode === 'first' ? 1 : 10);
    }
    if (batch.length === 0) return;
    const outcome = new Map<string, 'ack' | 'retry'>();
    const messages = batch.map((message) => ({
      id: message.id,
      timestamp: new Date(this.now),
      body: structuredClone(message.body),
      attempts: message.attempts,
      ack: () => void outcome.set(message.id, 'ack'),
      retry: () => void outcome.set(message.id, 'retry'),
    }));
    const ctx = createExecutionContext();
    const messageBatch = {
      queue: 'sim-reconcile',
      messages,
      ackAll: () => messages.forEach((m) => m.ack()),
      retryAll: () => messages.forEach((m) => m.retry()),
    } as unknown as MessageBatch<ReconcileMessage>;
    let threw = false;
    await this.#bounded(
      'the queue consumer',
      worker.queue!(messageBatch, this.env, ctx).catch(() => void (threw = true)),
    );
    await this.#bounded("the queue consumer's background work", waitOnExecutionContext(ctx));
    if (mode === 'redeliver') return;
    for (const message of batch) {
      const verdict = outcome.get(message.id) ?? (threw ? 'retry' : 'ack'); // implicit: acked when the handler returned
      const index = this.queued.findIndex((entry) => entry.id === message.id);
      if (verdict === 'ack') {
        this.queued.splice(index, 1);
        this.delivered.push({ id: message.id, body: message.body });
      } else this.queued[index]!.attempts++;
    }
  }

  async registry(): Promise<Map<string, { uid: string; tenant: string; state: string }>> {
    const { results } = await baseEnv.DB.prepare('SELECT uid, tenant, state FROM stream_users').all<{
      uid: string;
      tenant: string;
      state: string;
    }>();
    return new Map(results.map((row) => [row.uid, row]));
  }

  served(uid: string, tenant: string): void {
    const tenants = this.servedTenants.get(uid) ?? new Set<string>();
    tenants.add(tenant);
    this.servedTenants.set(uid, tenants);
    if (tenants.size > 1)
      this.violations.push(
        `uid ${uid} was served to callers of more than one tenant: ${[...tenants].map((t) => t || '(project)').join(', ')}`,
      );
  }

  /** Every answer is one of the documented ones: its status and code agree, and never `internal`. */
  #checkAnswer(path: string, status: number, body: Record<string, unknown>, callable: boolean): void {
    if (status === 200 || status === 202) return;
    if (callable) {
      const error = body.error as { status?: string } | undefined;
      const known = error?.status !== undefined && error.status in CALLABLE_HTTP_STATUS;
      const allowedStatuses = new Set(
        ERROR_CODES.filter((code) => new AppError(code, '').callableStatus === error?.status).map(
          (code) => new AppError(code, '').callableHttpStatus,
        ),
      );
      if (!known || !allowedStatuses.has(status))
        this.violations.push(`${path} answered ${status} ${JSON.stringify(body)}: not a documented callable answer`);
      else if (error!.status === 'INTERNAL') this.violations.push(`${path} answered INTERNAL (an unexpected error)`);
      return;
    }
    const code = body.code as ErrorCode | undefined;
    if (code === undefined || !ERROR_CODES.includes(code) || new AppError(code, '').httpStatus !== status) {
      this.violations.push(`${path} answered ${status} ${JSON.stringify(body)}: not a documented answer`);
    } else if (code === 'internal') this.violations.push(`${path} answered internal (an unexpected error)`);
  }

  /** Nothing may hang: every handler answers within 10 s of real time (its clock is the simulation's). */
  async #bounded<T>(what: string, promise: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = realSetTimeout(() => reject(new Error(`${what} did not answer within 10 s`)), 10_000);
    });
    try {
      return await Promise.race([promise, deadline]);
    } catch (error) {
      if (error instanceof Error && error.message.endsWith('did not answer within 10 s')) this.violations.push(error.message);
      throw error;
    } finally {
      if (timer !== undefined) realClearTimeout(timer);
    }
  }
}

async function mintIdToken(account: Account, key: Keys['google'][number], nowMs: number): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return new SignJWT({
    iss: `https://securetoken.google.com/${RIGHT_PROJECT}`,
    aud: RIGHT_PROJECT,
    sub: account.uid,
    user_id: account.uid,
    auth_time: iat,
    iat,
    exp: iat + 3600,
    firebase: { sign_in_provider: 'password', identities: {}, ...(account.tenant ? { tenant: account.tenant } : {}) },
    ...(account.name !== undefined ? { name: account.name } : {}),
    ...(account.picture !== undefined ? { picture: account.picture } : {}),
    ...(account.role !== undefined ? { stream_role: account.role } : {}),
    ...(account.teams !== undefined ? { stream_teams: account.teams } : {}),
  })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

export async function googleKey(kid: string, pair: CryptoKeyPair): Promise<Keys['google'][number]> {
  return { kid, privateKey: pair.privateKey, publicJwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/** A read replica's view while it lags: the rows as they were when it fell behind. */
export interface ReplicaLag {
  rows: Map<string, Record<string, unknown>>;
  tenantRows: boolean;
}

/**
 * D1 that fails every statement while `down()` says so (an outage: replicas
 * too), and whose read replica, while `lag()` gives a view, answers the token
 * routes' near read from that old view: rows written since are missing, and
 * rows changed since show their old state (D1's replicas are asynchronous).
 */
function faultyDb(db: D1Database, down: () => boolean, lag: () => ReplicaLag | undefined): D1Database {
  const fail = () => Promise.reject(new Error('D1_ERROR: simulated storage failure'));
  const wrap = (statement: D1PreparedStatement): D1PreparedStatement =>
    ({
      bind: (...values: unknown[]) => wrap(statement.bind(...values)),
      all: () => (down() ? fail() : statement.all()),
      run: () => (down() ? fail() : statement.run()),
      first: (column?: string) => (down() ? fail() : statement.first(column as string)),
      raw: () => (down() ? fail() : statement.raw()),
    }) as unknown as D1PreparedStatement;
  const fromOldView = (view: ReplicaLag, uid: string) => {
    const row = view.rows.get(uid);
    const tenant_rows = view.tenantRows ? 1 : 0;
    if (!row) return { tenant: null, state: null, alive_at: null, profile_hash: null, profile_written_at: null, tenant_rows };
    return {
      tenant: row.tenant,
      state: row.state,
      alive_at: row.alive_at,
      profile_hash: row.profile_hash,
      profile_written_at: row.profile_written_at,
      tenant_rows,
    };
  };
  const session = (constraint?: string) => {
    const inner = db.withSession(constraint as D1SessionConstraint);
    return {
      prepare: (query: string) => {
        const nearRead = query.includes('tenant_rows');
        const replica = (statement: D1PreparedStatement, values: unknown[] = []): D1PreparedStatement =>
          ({
            bind: (...bound: unknown[]) => replica(statement.bind(...bound), bound),
            first: async (column?: string) => {
              if (down()) return fail();
              const view = lag();
              if (view && nearRead) return fromOldView(view, values[0] as string);
              return statement.first(column as string);
            },
            all: () => (down() ? fail() : statement.all()),
            run: () => (down() ? fail() : statement.run()),
            raw: () => (down() ? fail() : statement.raw()),
          }) as unknown as D1PreparedStatement;
        return replica(inner.prepare(query));
      },
      batch: (statements: D1PreparedStatement[]) => (down() ? fail() : inner.batch(statements)),
      getBookmark: () => inner.getBookmark(),
    };
  };
  return {
    prepare: (query: string) => wrap(db.prepare(query)),
    batch: (s: D1PreparedStatement[]) => (down() ? fail() : db.batch(s)),
    withSession: session,
  } as unknown as D1Database;
}

// The simulation replaces setTimeout (sleeps advance its clock at once); these are the real ones.
export const realSetTimeout = globalThis.setTimeout.bind(globalThis);
export const realClearTimeout = globalThis.clearTimeout.bind(globalThis);
let vi_setSystemTime: (ms: number) => void = () => {
  throw new Error('the simulation clock is not installed');
};
export function installClock(setSystemTime: (ms: number) => void): void {
  vi_setSystemTime = setSystemTime;
}

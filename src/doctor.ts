/**
 * The doctor (`GET /v1/admin/doctor`): asks every dependency the Worker
 * needs whether it works, as the Worker would use it, and says what to fix.
 * Never a secret or key material in an answer: settings are named, values
 * never shown. `ok` is false when any check fails.
 *
 * @module
 */
import type { FirebaseAdminClient } from './firebase/admin-api';
import type { GoogleKeyStore } from './firebase/google-keys';
import type { CorsPolicy, DeletionEventsSettings } from './config/config';
import { missingMigrations } from './registry/migrations';
import type { Reconciliation } from './reconcile/types';
import type { StreamRestClient } from './stream/rest-client';
import { errorText } from './platform/log';

type CheckStatus = 'ok' | 'warn' | 'fail';

interface DoctorCheck {
  name:
    | 'settings'
    | 'cors'
    | 'stream_credentials'
    | 'firebase_admin'
    | 'd1_migrations'
    | 'd1_replication'
    | 'bindings'
    | 'google_keys'
    | 'clock_skew'
    | 'reconcile'
    | 'deletion_events';
  status: CheckStatus;
  detail: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

interface DoctorDeps {
  /** What the configuration's reading warned about (reasons name settings, never values). */
  warnings: readonly { event: string; reason: string }[];
  /** CORS_ALLOWED_ORIGINS, parsed. */
  cors: CorsPolicy;
  stream: StreamRestClient;
  /** Firebase admin access (service account or emulator); undefined: none configured. */
  firebase: FirebaseAdminClient | undefined;
  firebaseKeys: GoogleKeyStore;
  appCheckKeys: GoogleKeyStore | undefined;
  db: D1Database | undefined;
  bindings: {
    SIGNUP_BATCHER: boolean;
    STREAM_WRITE_LIMITER: RateLimit | undefined;
    STREAM_WRITE_IP_LIMITER: RateLimit | undefined;
    RECONCILE_QUEUE: boolean;
  };
  reconciliation: Reconciliation;
  /** Emulator mode (local): the emulator's unsigned tokens need no Google keys, so unreachable keys only warn. */
  emulatorMode: boolean;
  /** The deletion events route's settings and key cache; undefined: the route is off. */
  deletionEvents?: { settings: DeletionEventsSettings; keys: GoogleKeyStore } | undefined;
  /** The clock (Date.now; a test's own). */
  now: () => number;
}

/** Beyond this, tokens look issued in the future (Stream refuses iat ahead of its clock) or expire early. */
const MAX_CLOCK_SKEW_MS = 30_000;
/** The push route's path, which the audience usually is the URL of (gcloud's default audience is the push endpoint). */
const EVENTS_ROUTE = '/v1/events/user-deleted';

/** The checks, in the report's order. */
const CHECKS: readonly Check[] = [
  settingsCheck,
  corsCheck,
  streamChecks,
  firebaseAdminCheck,
  migrationsCheck,
  replicationCheck,
  bindingsCheck,
  googleKeysCheck,
  reconcileCheck,
  deletionEventsCheck,
];

/** One check's answer, or several (one Stream call answers for the credentials and the clock), or none (not applicable). */
type Check = (deps: DoctorDeps) => Promise<DoctorCheck | DoctorCheck[]> | DoctorCheck | DoctorCheck[];

const check = (name: DoctorCheck['name'], status: CheckStatus, detail: string): DoctorCheck => ({ name, status, detail });

export async function runDoctor(deps: DoctorDeps): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  // One after another, in the report's order: each may call a dependency, and none is urgent.
  for (const run of CHECKS) checks.push(...[await run(deps)].flat());
  return { ok: checks.every((entry) => entry.status !== 'fail'), checks };
}

/** Every setting parsed (or the Worker would not be answering); warnings name what was ignored. */
function settingsCheck(deps: DoctorDeps): DoctorCheck {
  const warned = deps.warnings.map((warning) => warning.reason);
  return check('settings', warned.length > 0 ? 'warn' : 'ok', warned.length > 0 ? warned.join('; ') : 'every setting parses');
}

/** Deny by default is right for mobile-only apps, and the first thing a web app trips over. */
function corsCheck(deps: DoctorDeps): DoctorCheck {
  if (deps.cors.kind === 'none') {
    return check(
      'cors',
      'warn',
      "CORS_ALLOWED_ORIGINS is empty: web pages of other origins cannot call this Worker (mobile apps and servers can); list the web app's origins",
    );
  }
  if (deps.cors.kind === 'any') return check('cors', 'ok', 'CORS_ALLOWED_ORIGINS is "*": pages of any origin may call this Worker');
  return check('cors', 'ok', `pages of ${deps.cors.origins.size} listed origin(s) may call this Worker`);
}

/** stream_credentials and clock_skew: one GET /app with the key and secret. */
async function streamChecks(deps: DoctorDeps): Promise<DoctorCheck[]> {
  const probe = await deps.stream.probeApp();
  let credentials: DoctorCheck;
  if (probe.status === 200)
    credentials = check('stream_credentials', 'ok', 'Stream accepts STREAM_API_KEY and STREAM_API_SECRET (GET /app)');
  else if (probe.status === 401 || probe.status === 403) {
    const which = probe.code === 2 ? 'STREAM_API_KEY' : 'STREAM_API_SECRET (or STREAM_API_KEY)';
    credentials = check(
      'stream_credentials',
      'fail',
      `Stream refused the server token (HTTP ${probe.status}${probe.code === undefined ? '' : `, code ${probe.code}`}): fix ${which}`,
    );
  } else if (probe.status === 0)
    credentials = check(
      'stream_credentials',
      'fail',
      `Stream did not answer GET /app (${probe.failure ?? 'no answer'}): check STREAM_BASE_URL`,
    );
  else credentials = check('stream_credentials', 'fail', `Stream answered GET /app with HTTP ${probe.status}: check STREAM_BASE_URL`);
  const streamDate = probe.date === null ? Number.NaN : Date.parse(probe.date);
  if (Number.isNaN(streamDate)) return [credentials, check('clock_skew', 'warn', 'no Date header from Stream to compare the clock with')];
  // Date has one-second resolution: allow for it.
  const skew = Math.abs(deps.now() - streamDate) - 1000;
  return [
    credentials,
    check(
      'clock_skew',
      skew > MAX_CLOCK_SKEW_MS ? 'warn' : 'ok',
      `this Worker's clock is within ${Math.max(0, Math.round(skew / 1000))} s of Stream's`,
    ),
  ];
}

/** An access token (or the emulator), then a lookup of a uid nobody has. */
async function firebaseAdminCheck(deps: DoctorDeps): Promise<DoctorCheck> {
  if (!deps.firebase)
    return check(
      'firebase_admin',
      'warn',
      'no GOOGLE_SERVICE_ACCOUNT: deleted users are not reconciled and FIREBASE_CHECK_REVOKED is unavailable',
    );
  try {
    const found = await deps.firebase.accounts([`doctor-${crypto.randomUUID()}`]);
    return check(
      'firebase_admin',
      found.size === 0 ? 'ok' : 'warn',
      found.size === 0 ? 'accounts:lookup answers (a random uid: no such user)' : 'accounts:lookup listed a random uid',
    );
  } catch (error) {
    return check(
      'firebase_admin',
      'fail',
      `${errorText(error)}: check GOOGLE_SERVICE_ACCOUNT (a key of FIREBASE_PROJECT_ID with a role that can read users) and FIREBASE_IDENTITY_TOOLKIT_URL`,
    );
  }
}

async function migrationsCheck(deps: DoctorDeps): Promise<DoctorCheck> {
  if (!deps.db)
    return check('d1_migrations', 'fail', 'no D1 binding "DB": nothing is registered or reconciled (npm run deploy creates it)');
  try {
    const missing = await missingMigrations(deps.db);
    return check(
      'd1_migrations',
      missing.length > 0 ? 'fail' : 'ok',
      missing.length > 0
        ? `not applied: ${missing.join(', ')} (npx wrangler d1 migrations apply DB --remote)`
        : 'every migration in migrations/ is applied',
    );
  } catch (error) {
    return check('d1_migrations', 'fail', `D1 did not answer: ${errorText(error)}`);
  }
}

/** Each binding present, and each rate limiter answering. */
async function bindingsCheck(deps: DoctorDeps): Promise<DoctorCheck> {
  const problems: string[] = [];
  const notes: string[] = [];
  if (!deps.db) problems.push('DB missing');
  if (!deps.bindings.SIGNUP_BATCHER) notes.push('SIGNUP_BATCHER missing (sign-up bursts make one Stream request per user)');
  for (const name of ['STREAM_WRITE_LIMITER', 'STREAM_WRITE_IP_LIMITER'] as const) {
    const limiter = deps.bindings[name];
    if (!limiter) notes.push(`${name} missing (no limit)`);
    else {
      try {
        await limiter.limit({ key: `doctor:${name}` });
      } catch {
        problems.push(`${name} does not answer`);
      }
    }
  }
  const status = problems.length > 0 ? 'fail' : notes.length > 0 ? 'warn' : 'ok';
  const queue = deps.bindings.RECONCILE_QUEUE ? ', RECONCILE_QUEUE (queue mode)' : '';
  return check(
    'bindings',
    status,
    [...problems, ...notes].join('; ') || `DB, SIGNUP_BATCHER, STREAM_WRITE_LIMITER, STREAM_WRITE_IP_LIMITER present${queue}`,
  );
}

async function googleKeysCheck(deps: DoctorDeps): Promise<DoctorCheck> {
  const problems: string[] = [];
  const counts: string[] = [];
  for (const [label, store] of [
    ['Firebase ID tokens', deps.firebaseKeys],
    ['App Check', deps.appCheckKeys],
  ] as const) {
    if (!store) continue;
    try {
      counts.push(`${label}: ${(await store.usableKeyIds()).length} keys`);
    } catch {
      problems.push(`${label}: keys unavailable (check FIREBASE_JWKS_URL / APP_CHECK_JWKS_URL and the network)`);
    }
  }
  const status = problems.length === 0 ? 'ok' : deps.emulatorMode ? 'warn' : 'fail';
  return check(
    'google_keys',
    status,
    [
      ...problems,
      ...counts,
      ...(problems.length > 0 && deps.emulatorMode ? ['emulator mode: its unsigned ID tokens need no keys'] : []),
    ].join('; '),
  );
}

/** The last run, the backlog, the brake. */
async function reconcileCheck(deps: DoctorDeps): Promise<DoctorCheck> {
  if (!deps.reconciliation.on) return check('reconcile', 'warn', `off: ${deps.reconciliation.reason}`);
  try {
    const { registry } = deps.reconciliation.deps;
    const [state, due] = await Promise.all([registry.sweepState(), registry.countDue(1000)]);
    const last = state.lastRun as { started_at?: number; braked?: number; error?: string; deleted?: number } | null;
    const when = last?.started_at ? `${Math.round((deps.now() - last.started_at) / 60_000)} min ago` : 'never';
    const detail = `last run ${when}${last?.deleted !== undefined ? `, deleted ${last.deleted}` : ''}; ${due >= 1000 ? '1000+' : due} deletions due`;
    if (last?.braked) {
      return check(
        'reconcile',
        'warn',
        `${detail}; the brake held ${last.braked} uids (Firebase sees none of the users known to exist: check FIREBASE_PROJECT_ID, GOOGLE_SERVICE_ACCOUNT, FIREBASE_TENANT_IDS)`,
      );
    }
    if (last?.error) return check('reconcile', 'warn', `${detail}; the last run stopped: ${last.error}`);
    return check('reconcile', 'ok', detail);
  } catch (error) {
    return check('reconcile', 'fail', `the registry did not answer: ${errorText(error)}`);
  }
}

/**
 * Where the token routes' near read is served: one session read, as they make
 * it. Production D1 names the region and whether the primary answered
 * (`meta.served_by_region`, `meta.served_by_primary`); local D1 names neither.
 */
async function replicationCheck(deps: DoctorDeps): Promise<DoctorCheck[]> {
  const { db } = deps;
  if (!db) return [];
  let meta: { served_by_region?: string; served_by_primary?: boolean; served_by_colo?: string };
  try {
    meta = (await db.withSession('first-unconstrained').prepare('SELECT 1').all()).meta as typeof meta;
  } catch (error) {
    return [check('d1_replication', 'fail', `a session read failed: ${errorText(error)}`)];
  }
  if (meta.served_by_primary === undefined) {
    return [check('d1_replication', 'ok', 'local D1: no replicas, no region (production names where each read is served)')];
  }
  const where = `${meta.served_by_primary ? 'the primary' : 'a read replica'}${meta.served_by_region ? ` in ${meta.served_by_region}` : ''}${meta.served_by_colo ? ` (colo ${meta.served_by_colo})` : ''}`;
  if (!meta.served_by_primary) return [check('d1_replication', 'ok', `session reads served by ${where}`)];
  return [
    check(
      'd1_replication',
      'warn',
      `session reads served by ${where}: read replication may be off (npm run deploy turns it on; or Cloudflare dashboard → D1 → the database → Settings → Read replication), ` +
        'or this data centre is nearest the primary',
    ),
  ];
}

/** The push route's settings against each other and against Google's OIDC keys (parseConfig already requires D1 and Firebase). */
async function deletionEventsCheck(deps: DoctorDeps): Promise<DoctorCheck> {
  const events = deps.deletionEvents;
  if (!events) return check('deletion_events', 'ok', 'off (DELETION_EVENTS_AUDIENCE unset)');
  const { audience, serviceAccount } = events.settings;
  const fails: string[] = [];
  const warns: string[] = [];
  try {
    await events.keys.usableKeyIds();
  } catch {
    fails.push('OIDC keys unavailable (check GOOGLE_OIDC_JWKS_URL): pushes get 503');
  }
  let audiencePath: string | undefined;
  try {
    audiencePath = new URL(audience).pathname;
  } catch {
    audiencePath = undefined;
  }
  if (audiencePath !== undefined && audiencePath !== EVENTS_ROUTE) {
    warns.push(`DELETION_EVENTS_AUDIENCE is not a URL of ${EVENTS_ROUTE}: it must equal --push-auth-token-audience`);
  }
  if (!/\.gserviceaccount\.com$/.test(serviceAccount)) warns.push('DELETION_EVENTS_SERVICE_ACCOUNT is not a service account email');
  if (deps.reconciliation.on && deps.reconciliation.deps.settings.dryRun) warns.push('RECONCILE_DRY_RUN is on: nothing is deleted');
  const status: CheckStatus = fails.length > 0 ? 'fail' : warns.length > 0 ? 'warn' : 'ok';
  return check('deletion_events', status, [...fails, ...warns].join('; ') || 'on');
}

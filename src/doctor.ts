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
  name: 'settings' | 'cors' | 'stream_credentials' | 'firebase_admin' | 'd1_migrations' | 'd1_replication' | 'bindings' | 'google_keys' | 'clock_skew' | 'reconcile' | 'deletion_events';
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
  bindings: { SIGNUP_BATCHER: boolean; STREAM_WRITE_LIMITER: RateLimit | undefined; STREAM_WRITE_IP_LIMITER: RateLimit | undefined; RECONCILE_QUEUE: boolean };
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

export async function runDoctor(deps: DoctorDeps): Promise<DoctorReport> {
  const { now } = deps;
  const checks: DoctorCheck[] = [];
  const add = (name: DoctorCheck['name'], status: CheckStatus, detail: string) => checks.push({ name, status, detail });

  // settings: every setting parsed (or the Worker would not be answering); warnings name what was ignored.
  const warned = deps.warnings.map((warning) => warning.reason);
  add('settings', warned.length > 0 ? 'warn' : 'ok', warned.length > 0 ? warned.join('; ') : 'every setting parses');

  // cors: deny by default is right for mobile-only apps, and the first thing a web app trips over.
  if (deps.cors.kind === 'none') add('cors', 'warn', 'CORS_ALLOWED_ORIGINS is empty: web pages of other origins cannot call this Worker (mobile apps and servers can); list the web app\'s origins');
  else if (deps.cors.kind === 'any') add('cors', 'ok', 'CORS_ALLOWED_ORIGINS is "*": pages of any origin may call this Worker');
  else add('cors', 'ok', `pages of ${deps.cors.origins.size} listed origin(s) may call this Worker`);

  // stream_credentials and clock_skew: one GET /app with the key and secret.
  const probe = await deps.stream.probeApp();
  if (probe.status === 200) add('stream_credentials', 'ok', 'Stream accepts STREAM_API_KEY and STREAM_API_SECRET (GET /app)');
  else if (probe.status === 401 || probe.status === 403) {
    const which = probe.code === 2 ? 'STREAM_API_KEY' : 'STREAM_API_SECRET (or STREAM_API_KEY)';
    add('stream_credentials', 'fail', `Stream refused the server token (HTTP ${probe.status}${probe.code === undefined ? '' : `, code ${probe.code}`}): fix ${which}`);
  } else if (probe.status === 0) add('stream_credentials', 'fail', `Stream did not answer GET /app (${probe.failure ?? 'no answer'}): check STREAM_BASE_URL`);
  else add('stream_credentials', 'fail', `Stream answered GET /app with HTTP ${probe.status}: check STREAM_BASE_URL`);
  const streamDate = probe.date === null ? Number.NaN : Date.parse(probe.date);
  if (Number.isNaN(streamDate)) add('clock_skew', 'warn', 'no Date header from Stream to compare the clock with');
  else {
    // Date has one-second resolution: allow for it.
    const skew = Math.abs(now() - streamDate) - 1000;
    add('clock_skew', skew > MAX_CLOCK_SKEW_MS ? 'warn' : 'ok', `this Worker's clock is within ${Math.max(0, Math.round(skew / 1000))} s of Stream's`);
  }

  // firebase_admin: an access token (or the emulator), then a lookup of a uid nobody has.
  if (!deps.firebase) add('firebase_admin', 'warn', 'no GOOGLE_SERVICE_ACCOUNT: deleted users are not reconciled and FIREBASE_CHECK_REVOKED is unavailable');
  else {
    try {
      const found = await deps.firebase.accounts([`doctor-${crypto.randomUUID()}`]);
      add('firebase_admin', found.size === 0 ? 'ok' : 'warn', found.size === 0 ? 'accounts:lookup answers (a random uid: no such user)' : 'accounts:lookup listed a random uid');
    } catch (error) {
      const message = errorText(error);
      add('firebase_admin', 'fail', `${message}: check GOOGLE_SERVICE_ACCOUNT (a key of FIREBASE_PROJECT_ID with a role that can read users) and FIREBASE_IDENTITY_TOOLKIT_URL`);
    }
  }

  // d1_migrations
  if (!deps.db) add('d1_migrations', 'fail', 'no D1 binding "DB": nothing is registered or reconciled (npm run deploy creates it)');
  else {
    try {
      const missing = await missingMigrations(deps.db);
      add('d1_migrations', missing.length > 0 ? 'fail' : 'ok', missing.length > 0 ? `not applied: ${missing.join(', ')} (npx wrangler d1 migrations apply DB --remote)` : 'every migration in migrations/ is applied');
    } catch (error) {
      add('d1_migrations', 'fail', `D1 did not answer: ${errorText(error)}`);
    }
  }

  if (deps.db) checks.push(await replicationCheck(deps.db));

  // bindings
  const bindingProblems: string[] = [];
  const bindingNotes: string[] = [];
  if (!deps.db) bindingProblems.push('DB missing');
  if (!deps.bindings.SIGNUP_BATCHER) bindingNotes.push('SIGNUP_BATCHER missing (sign-up bursts make one Stream request per user)');
  for (const name of ['STREAM_WRITE_LIMITER', 'STREAM_WRITE_IP_LIMITER'] as const) {
    const limiter = deps.bindings[name];
    if (!limiter) bindingNotes.push(`${name} missing (no limit)`);
    else {
      try {
        await limiter.limit({ key: `doctor:${name}` });
      } catch {
        bindingProblems.push(`${name} does not answer`);
      }
    }
  }
  const queueConfigured = deps.bindings.RECONCILE_QUEUE;
  const status = bindingProblems.length > 0 ? 'fail' : bindingNotes.length > 0 ? 'warn' : 'ok';
  add('bindings', status, [...bindingProblems, ...bindingNotes].join('; ') || `DB, SIGNUP_BATCHER, STREAM_WRITE_LIMITER, STREAM_WRITE_IP_LIMITER present${queueConfigured ? ', RECONCILE_QUEUE (queue mode)' : ''}`);

  // google_keys
  const keyProblems: string[] = [];
  const keyCounts: string[] = [];
  for (const [label, store] of [['Firebase ID tokens', deps.firebaseKeys], ['App Check', deps.appCheckKeys]] as const) {
    if (!store) continue;
    try {
      keyCounts.push(`${label}: ${(await store.usableKeyIds()).length} keys`);
    } catch {
      keyProblems.push(`${label}: keys unavailable (check FIREBASE_JWKS_URL / APP_CHECK_JWKS_URL and the network)`);
    }
  }
  const keysStatus = keyProblems.length === 0 ? 'ok' : deps.emulatorMode ? 'warn' : 'fail';
  add('google_keys', keysStatus, [...keyProblems, ...keyCounts, ...(keyProblems.length > 0 && deps.emulatorMode ? ['emulator mode: its unsigned ID tokens need no keys'] : [])].join('; '));

  // reconcile: the last run, the backlog, the brake
  if (!deps.reconciliation.on) add('reconcile', 'warn', `off: ${deps.reconciliation.reason}`);
  else {
    try {
      const { registry } = deps.reconciliation.deps;
      const [state, due] = await Promise.all([registry.sweepState(), registry.countDue(1000)]);
      const last = state.lastRun as { started_at?: number; braked?: number; error?: string; deleted?: number } | null;
      const when = last?.started_at ? `${Math.round((now() - last.started_at) / 60_000)} min ago` : 'never';
      const detail = `last run ${when}${last?.deleted !== undefined ? `, deleted ${last.deleted}` : ''}; ${due >= 1000 ? '1000+' : due} deletions due`;
      if (last?.braked) add('reconcile', 'warn', `${detail}; the brake held ${last.braked} uids (Firebase sees none of the users known to exist: check FIREBASE_PROJECT_ID, GOOGLE_SERVICE_ACCOUNT, FIREBASE_TENANT_IDS)`);
      else if (last?.error) add('reconcile', 'warn', `${detail}; the last run stopped: ${last.error}`);
      else add('reconcile', 'ok', detail);
    } catch (error) {
      add('reconcile', 'fail', `the registry did not answer: ${errorText(error)}`);
    }
  }

  const events = await deletionEventsCheck(deps);
  add('deletion_events', events.status, events.detail);

  return { ok: checks.every((check) => check.status !== 'fail'), checks };
}

/**
 * Where the token routes' near read is served: one session read, as they make
 * it. Production D1 names the region and whether the primary answered
 * (`meta.served_by_region`, `meta.served_by_primary`); local D1 names neither.
 */
async function replicationCheck(db: D1Database): Promise<DoctorCheck> {
  let meta: { served_by_region?: string; served_by_primary?: boolean; served_by_colo?: string };
  try {
    meta = (await db.withSession('first-unconstrained').prepare('SELECT 1').all()).meta as typeof meta;
  } catch (error) {
    return { name: 'd1_replication', status: 'fail', detail: `a session read failed: ${errorText(error)}` };
  }
  if (meta.served_by_primary === undefined) {
    return { name: 'd1_replication', status: 'ok', detail: 'local D1: no replicas, no region (production names where each read is served)' };
  }
  const where = `${meta.served_by_primary ? 'the primary' : 'a read replica'}${meta.served_by_region ? ` in ${meta.served_by_region}` : ''}${meta.served_by_colo ? ` (colo ${meta.served_by_colo})` : ''}`;
  if (!meta.served_by_primary) return { name: 'd1_replication', status: 'ok', detail: `session reads served by ${where}` };
  return {
    name: 'd1_replication',
    status: 'warn',
    detail:
      `session reads served by ${where}: read replication may be off (npm run deploy turns it on; or Cloudflare dashboard → D1 → the database → Settings → Read replication), ` +
      'or this data centre is nearest the primary',
  };
}

/** The push route's settings against each other and against what it needs: reconciliation and Google's OIDC keys. */
async function deletionEventsCheck(deps: DoctorDeps): Promise<{ status: CheckStatus; detail: string }> {
  const events = deps.deletionEvents;
  if (!events) return { status: 'ok', detail: 'off (DELETION_EVENTS_AUDIENCE unset)' };
  const { audience, serviceAccount } = events.settings;
  const fails: string[] = [];
  const warns: string[] = [];
  if (!deps.reconciliation.on) fails.push(`reconciliation is off (${deps.reconciliation.reason}): pushes get 503`);
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
  return { status, detail: [...fails, ...warns].join('; ') || 'on' };
}

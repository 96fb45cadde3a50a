import type { ReconcileMessage } from './reconcile/types';
import type { SignupBatcher } from './stream/signup-batcher';

/**
 * The Worker's bindings, as declared in wrangler.toml (vars) and set with
 * `wrangler secret put` (secrets). Every value arrives as a string or is
 * missing; src/config/config.ts turns them into a validated Config once per isolate.
 */
export interface Env {
  FIREBASE_PROJECT_ID?: string;
  STREAM_API_KEY?: string;
  /** secret */
  STREAM_API_SECRET?: string;
  STREAM_BASE_URL?: string;
  FIREBASE_JWKS_URL?: string;
  STREAM_TOKEN_TTL_SECONDS?: string;
  STREAM_USER_FIELDS?: string;
  CORS_ALLOWED_ORIGINS?: string;
  STREAM_PROFILE_CACHE_SECONDS?: string;
  /** Identity Platform tenants whose users are served, comma-separated; empty = project-level users only. */
  FIREBASE_TENANT_IDS?: string;
  /** Custom claim holding the Stream role (off when unset), the roles it may grant, and the claim holding teams. */
  STREAM_ROLE_CLAIM?: string;
  STREAM_ALLOWED_ROLES?: string;
  STREAM_TEAMS_CLAIM?: string;
  /** Rate Limiting binding: Stream writes per uid (wrangler.toml [[ratelimits]]); none = no limit. */
  STREAM_WRITE_LIMITER?: RateLimit;
  /** Rate Limiting binding: Stream writes per client address (CF-Connecting-IP); none = no limit. */
  STREAM_WRITE_IP_LIMITER?: RateLimit;
  /** Anonymous Firebase users (`firebase.sign_in_provider` is `anonymous`): allow (default), token-only (no Stream write) or deny. */
  FIREBASE_ANONYMOUS?: string;
  /** STREAM_WRITE_LIMITER's period in seconds (as in wrangler.toml), for Retry-After. */
  STREAM_WRITE_LIMIT_PERIOD_SECONDS?: string;
  /** `true`: refuse disabled accounts and revoked ID tokens, as verifyIdToken(token, true) does. */
  FIREBASE_CHECK_REVOKED?: string;
  FIREBASE_CHECK_REVOKED_CACHE_SECONDS?: string;
  /** Firebase App Check: off | monitor | enforce, the project number, allowed app ids, and the keys' URL. */
  APP_CHECK?: string;
  FIREBASE_PROJECT_NUMBER?: string;
  APP_CHECK_APP_IDS?: string;
  APP_CHECK_JWKS_URL?: string;
  /** Local development only: host:port of the Firebase Auth emulator (see src/firebase/emulator.ts). */
  FIREBASE_AUTH_EMULATOR_HOST?: string;
  /** Local development only: exactly `true` to let FIREBASE_AUTH_EMULATOR_HOST turn emulator mode on. */
  ALLOW_AUTH_EMULATOR?: string;

  // Deletion reconciliation (src/reconcile/)
  /** D1: the registry of provisioned users. */
  DB?: D1Database;
  /** secret: the Google service account key file's JSON content. */
  GOOGLE_SERVICE_ACCOUNT?: string;
  FIREBASE_IDENTITY_TOOLKIT_URL?: string;
  STREAM_DELETE_MODE?: string;
  RECONCILE_DRY_RUN?: string;
  RECONCILE_BATCH_SIZE?: string;
  RECONCILE_MAX_BATCHES?: string;
  RECONCILE_MAX_DELETES?: string;
  RECONCILE_DELETE_INTERVAL_MS?: string;
  RECONCILE_MAX_MISSING_PERCENT?: string;
  RECONCILE_TASK_WAIT_MS?: string;
  RECONCILE_QUEUE_BATCHES_PER_RUN?: string;
  /** Durable Object: one place to batch sign-ups from every isolate (optional). */
  SIGNUP_BATCHER?: DurableObjectNamespace<SignupBatcher>;
  /** Queue mode (optional): producer and consumer binding for reconciliation batches. */
  RECONCILE_QUEUE?: Queue<ReconcileMessage>;
  /** Workers Analytics Engine dataset for metrics (optional; src/platform/metrics.ts). */
  METRICS?: AnalyticsEngineDataset;
  /** Deletion events (Pub/Sub push, src/events/): the push token's audience (unset = the route is off) and its service account. */
  DELETION_EVENTS_AUDIENCE?: string;
  DELETION_EVENTS_SERVICE_ACCOUNT?: string;
  /** Google's OIDC keys, which sign Pub/Sub push tokens. */
  GOOGLE_OIDC_JWKS_URL?: string;
  /** secret: bearer token for the /v1/admin/* routes; unset = those routes are off. */
  ADMIN_TOKEN?: string;
}

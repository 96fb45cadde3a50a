/**
 * Settings, parsed and validated once per isolate by the composition root
 * (src/index.ts), the only module that reads them. Domain modules take the
 * narrow settings they use. Errors name the setting that is missing or
 * malformed and never echo a secret's value.
 *
 * @module
 */
import type { AnonymousPolicy } from '../admission';
import type { Env } from '../env';
import type { AppCheckRules } from '../firebase/app-check';
import { parseServiceAccountKey, type ServiceAccountKey } from '../firebase/service-account';
import { parseDeleteMode } from '../reconcile/delete-mode';
import type { ReconcileSettings } from '../reconcile/types';
import type { AccessPolicy } from '../stream/access';
import { STREAM_USER_FIELD_NAMES, type StreamUserField } from '../stream/profile';
import { isLoopbackHost } from '../platform/loopback';
import { DEFAULTS } from './defaults';
import { SettingsReader, splitList, type Fail } from './parse';
import { isTenantId } from '../user-id';

/** CORS_ALLOWED_ORIGINS, parsed: no CORS headers at all, any origin, or a list of origins. */
export type CorsPolicy = { kind: 'none' } | { kind: 'any' } | { kind: 'list'; origins: ReadonlySet<string> };

const ANONYMOUS_POLICIES: readonly AnonymousPolicy[] = ['allow', 'token-only', 'deny'];

export interface Config {
  firebaseProjectId: string;
  /** `iss` every accepted ID token must carry. */
  firebaseIssuer: string;
  firebaseJwksUrl: string;
  streamApiKey: string;
  streamApiSecret: string;
  /** Without a trailing slash. */
  streamBaseUrl: string;
  /** 0 = tokens without `exp`. */
  streamTokenTtlSeconds: number;
  streamUserFields: ReadonlySet<StreamUserField>;
  /** STREAM_PROFILE_CACHE_SECONDS: how long the create route trusts that an unchanged profile is still in Stream; 0 = always call Stream. */
  streamProfileCacheSeconds: number;
  cors: CorsPolicy;
  /** FIREBASE_TENANT_IDS. */
  tenants: ReadonlySet<string>;
  /** STREAM_ROLE_CLAIM, STREAM_ALLOWED_ROLES, STREAM_TEAMS_CLAIM. */
  access: AccessPolicy;
  /** STREAM_WRITE_LIMIT_PERIOD_SECONDS. */
  writeLimitPeriodSeconds: number;
  /** Firebase App Check; undefined = off. */
  appCheck: { mode: 'monitor' | 'enforce'; rules: AppCheckRules; jwksUrl: string } | undefined;
  /** FIREBASE_CHECK_REVOKED: undefined = off; else how long each account's status is trusted. */
  checkRevoked: { cacheSeconds: number } | undefined;
  /** FIREBASE_ANONYMOUS. */
  anonymous: AnonymousPolicy;
  /** Set only when FIREBASE_AUTH_EMULATOR_HOST names a loopback host. */
  firebaseAuthEmulatorHost: string | undefined;
  identityToolkitUrl: string;
  serviceAccount: ServiceAccountKey | undefined;
  reconcile: ReconcileSettings;
  /** undefined = admin routes off. */
  adminToken: string | undefined;
  /** The Pub/Sub push route for deletion events; undefined = off (DELETION_EVENTS_AUDIENCE unset). */
  deletionEvents: DeletionEventsSettings | undefined;
  /** Not errors (the Worker serves, safely) but never silent: the composition root logs each once. */
  warnings: readonly ConfigWarning[];
}

/** Who may push deletion events: Google-signed OIDC tokens for this audience, of this service account. */
export interface DeletionEventsSettings {
  audience: string;
  serviceAccount: string;
  jwksUrl: string;
}

interface ConfigWarning {
  event: 'emulator_mode_refused';
  reason: string;
}

/** wrangler.toml's Stream key: the local stand-in's, never a real app's. */
const PLACEHOLDER_STREAM_API_KEY = 'localdevkey';

/** An admin token shorter than this is refused: it guards user deletion. */
const MIN_ADMIN_TOKEN_LENGTH = 32;

/** Ten years: anything longer is surely a typo (and `0` exists for "no expiry"). */
const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config';
  /** The settings at fault, e.g. ["STREAM_API_SECRET"]. */
  readonly settings: string[];

  constructor(problems: { setting: string; problem: string }[]) {
    super(`Invalid configuration: ${problems.map((p) => `${p.setting} ${p.problem}`).join('; ')}`);
    this.settings = problems.map((p) => p.setting);
  }
}

/** Parses every setting and reports all problems at once. Pure: no I/O (warnings are returned, not logged). */
export function parseConfig(env: Env): Config {
  const problems: { setting: string; problem: string }[] = [];
  const warnings: ConfigWarning[] = [];
  const read = new SettingsReader(env, (setting, problem) => {
    problems.push({ setting, problem });
  });

  const firebase = firebaseSettings(read, warnings);
  const config: Config = {
    ...firebase,
    ...streamSettings(read),
    cors: parseCors(read.text('CORS_ALLOWED_ORIGINS'), read.fail),
    appCheck: appCheckSettings(read),
    reconcile: reconcileSettings(read),
    adminToken: adminTokenSetting(read),
    deletionEvents: deletionEventsSettings(read),
    warnings,
  };
  if (config.checkRevoked && !config.firebaseAuthEmulatorHost && !config.serviceAccount) {
    read.fail('FIREBASE_CHECK_REVOKED', 'needs GOOGLE_SERVICE_ACCOUNT (or the Auth emulator locally) to look accounts up');
  }
  if (config.tenants.size > 0 && env.DB === undefined) {
    // Without a registry nothing binds a uid to its tenant: two tenants' users with the same uid would share a Stream user.
    read.fail(
      'FIREBASE_TENANT_IDS',
      'needs the D1 binding "DB" (the registry binds each uid to its tenant); add [[d1_databases]] to wrangler.toml',
    );
  }
  refuseUnworkable(config, read.fail);
  if (config.deletionEvents && !config.firebaseAuthEmulatorHost && !config.serviceAccount) {
    // An event is never trusted alone: Firebase is asked, so the route needs a way to ask it.
    read.fail(
      'DELETION_EVENTS_AUDIENCE',
      'needs GOOGLE_SERVICE_ACCOUNT (or the Auth emulator locally) to confirm each deletion with Firebase',
    );
  }
  if (config.deletionEvents && env.DB === undefined) {
    // The registry says which tenant a uid was served in and holds the deletion brake's witnesses; without it
    // every push would be refused and redelivered until the subscription gives up.
    read.fail(
      'DELETION_EVENTS_AUDIENCE',
      'needs the D1 binding "DB" (the registry of served users); add [[d1_databases]] to wrangler.toml',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * Combinations that parse but cannot be what anyone wants, refused so that
 * /healthz and the doctor name them instead of the Worker answering "ok".
 */
function refuseUnworkable(config: Config, fail: Fail): void {
  // An anonymous token without `exp` could never be revoked: token-only writes no Stream user, so revoke is refused.
  if (config.streamTokenTtlSeconds === 0 && config.anonymous === 'token-only') {
    const problem = 'is 0 (tokens without exp) while FIREBASE_ANONYMOUS is token-only: anonymous tokens could never expire nor be revoked';
    fail('STREAM_TOKEN_TTL_SECONDS', problem);
    fail('FIREBASE_ANONYMOUS', 'is token-only while STREAM_TOKEN_TTL_SECONDS is 0: set a TTL, or allow or deny anonymous users');
  }
  // wrangler.toml's placeholders. Google never issues ID tokens for a demo- project (only the emulator does), and
  // Stream has no app with the key localdevkey: against the real services, every request would be refused.
  const projectId = config.firebaseProjectId;
  if (projectId.startsWith('demo-') && !config.firebaseAuthEmulatorHost && config.firebaseJwksUrl === DEFAULTS.FIREBASE_JWKS_URL) {
    fail('FIREBASE_PROJECT_ID', `is "${projectId}", a demo- placeholder, checked against Google's real keys: set your Firebase project id`);
  }
  if (config.streamApiKey === PLACEHOLDER_STREAM_API_KEY && config.streamBaseUrl === DEFAULTS.STREAM_BASE_URL) {
    fail('STREAM_API_KEY', `is the placeholder "${PLACEHOLDER_STREAM_API_KEY}", sent to Stream's real API: set your Stream app's key`);
  }
}

/** Whose ID tokens are accepted, and how Firebase is asked about accounts. */
function firebaseSettings(read: SettingsReader, warnings: ConfigWarning[]) {
  const projectId = read.required('FIREBASE_PROJECT_ID');
  if (projectId && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(projectId)) {
    read.fail('FIREBASE_PROJECT_ID', 'must be a Firebase project id (lowercase letters, digits and hyphens)');
  }

  const tenants = new Set<string>();
  for (const tenant of read.list('FIREBASE_TENANT_IDS')) {
    if (isTenantId(tenant)) tenants.add(tenant);
    else read.fail('FIREBASE_TENANT_IDS', `has "${tenant}", which is not a tenant id (letters, digits and hyphens)`);
  }

  const checkRevoked = read.flag('FIREBASE_CHECK_REVOKED');
  const checkRevokedCacheSeconds = read.whole('FIREBASE_CHECK_REVOKED_CACHE_SECONDS', 0, 3600);

  const serviceAccountJson = read.text('GOOGLE_SERVICE_ACCOUNT');
  const serviceAccount = serviceAccountJson === '' ? undefined : read.parsed('GOOGLE_SERVICE_ACCOUNT', parseServiceAccountKey);
  // A key file of another project is the classic way to make every user look deleted: Firebase answers for the wrong project.
  if (projectId && serviceAccount?.project_id !== undefined && serviceAccount.project_id !== projectId) {
    read.fail('GOOGLE_SERVICE_ACCOUNT', `belongs to project "${serviceAccount.project_id}", not FIREBASE_PROJECT_ID "${projectId}"`);
  }

  let emulatorHost: string | undefined = read.text('FIREBASE_AUTH_EMULATOR_HOST') || undefined;
  // The development-only switch, exactly "true": a host alone (left in a config, copied from a laptop) turns nothing on.
  const allowEmulator = read.text('ALLOW_AUTH_EMULATOR');
  if (allowEmulator !== '' && allowEmulator !== 'true' && allowEmulator !== 'false') {
    read.fail('ALLOW_AUTH_EMULATOR', 'must be exactly "true" (local development only) or unset');
  }
  if (emulatorHost && allowEmulator !== 'true') {
    warnings.push({
      event: 'emulator_mode_refused',
      reason:
        'FIREBASE_AUTH_EMULATOR_HOST is set without ALLOW_AUTH_EMULATOR = "true"; emulator mode is OFF and unsigned ID tokens are rejected',
    });
    emulatorHost = undefined;
  }
  if (emulatorHost && serviceAccountJson !== '') {
    // Production credentials mean production: emulator mode stays off.
    warnings.push({
      event: 'emulator_mode_refused',
      reason: 'FIREBASE_AUTH_EMULATOR_HOST and GOOGLE_SERVICE_ACCOUNT are both set; emulator mode is OFF',
    });
    emulatorHost = undefined;
  }
  if (emulatorHost && !isLoopbackHost(emulatorHost)) {
    // Not an error (the Worker keeps serving, safely), but never silent.
    warnings.push({
      event: 'emulator_mode_refused',
      reason: 'FIREBASE_AUTH_EMULATOR_HOST is not a loopback address; emulator mode is OFF and unsigned ID tokens are rejected',
    });
    emulatorHost = undefined;
  }

  return {
    firebaseProjectId: projectId,
    firebaseIssuer: `https://securetoken.google.com/${projectId}`,
    firebaseJwksUrl: read.url('FIREBASE_JWKS_URL'),
    tenants,
    checkRevoked: checkRevoked ? { cacheSeconds: checkRevokedCacheSeconds } : undefined,
    anonymous: read.oneOf('FIREBASE_ANONYMOUS', ANONYMOUS_POLICIES),
    firebaseAuthEmulatorHost: emulatorHost,
    identityToolkitUrl: read.url('FIREBASE_IDENTITY_TOOLKIT_URL'),
    serviceAccount,
  };
}

/** The Stream app, its tokens, and what this service writes to its users. */
function streamSettings(read: SettingsReader) {
  const streamApiKey = read.required('STREAM_API_KEY');
  if (streamApiKey && !/^[A-Za-z0-9]+$/.test(streamApiKey)) read.fail('STREAM_API_KEY', 'must be letters and digits only');
  // Never put the secret's value in a message: only say what is wrong with it.
  const streamApiSecret = read.required('STREAM_API_SECRET');

  const streamUserFields = new Set<StreamUserField>();
  for (const field of read.list('STREAM_USER_FIELDS')) {
    if ((STREAM_USER_FIELD_NAMES as readonly string[]).includes(field)) streamUserFields.add(field as StreamUserField);
    else read.fail('STREAM_USER_FIELDS', `has unknown field "${field}" (allowed: ${STREAM_USER_FIELD_NAMES.join(', ')})`);
  }

  const claimName = (setting: 'STREAM_ROLE_CLAIM' | 'STREAM_TEAMS_CLAIM'): string | undefined => {
    const name = read.text(setting);
    if (name === '') return undefined;
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) read.fail(setting, 'must be the name of a custom claim (letters, digits, _)');
    return name;
  };
  const allowedRoles = new Set<string>();
  for (const role of read.list('STREAM_ALLOWED_ROLES')) {
    if (/^[A-Za-z0-9_-]{1,64}$/.test(role)) allowedRoles.add(role);
    else read.fail('STREAM_ALLOWED_ROLES', `has "${role}", which is not a Stream role name`);
  }
  const access: AccessPolicy = { roleClaim: claimName('STREAM_ROLE_CLAIM'), allowedRoles, teamsClaim: claimName('STREAM_TEAMS_CLAIM') };

  return {
    streamApiKey,
    streamApiSecret,
    streamBaseUrl: read.url('STREAM_BASE_URL'),
    streamTokenTtlSeconds: read.whole('STREAM_TOKEN_TTL_SECONDS', 0, MAX_TTL_SECONDS),
    streamUserFields,
    streamProfileCacheSeconds: read.whole('STREAM_PROFILE_CACHE_SECONDS', 0, 86_400),
    access,
    writeLimitPeriodSeconds: read.whole('STREAM_WRITE_LIMIT_PERIOD_SECONDS', 1, 3600),
  };
}

/** Firebase App Check; undefined = off. */
function appCheckSettings(read: SettingsReader): Config['appCheck'] {
  const mode = read.oneOf('APP_CHECK', ['off', 'monitor', 'enforce'] as const);
  const projectNumber = read.text('FIREBASE_PROJECT_NUMBER');
  if (mode !== 'off' && !/^\d{1,20}$/.test(projectNumber)) {
    read.fail('FIREBASE_PROJECT_NUMBER', 'is required with APP_CHECK (the project number, digits: Firebase console → Project settings)');
  }
  const appIds = read.list('APP_CHECK_APP_IDS');
  for (const appId of appIds) {
    if (!/^[0-9]+:[0-9]+:[a-z]+:[0-9a-f]+$/i.test(appId))
      read.fail('APP_CHECK_APP_IDS', `has "${appId}", which is not a Firebase app id (like 1:1234567890:web:abc123)`);
  }
  const jwksUrl = read.url('APP_CHECK_JWKS_URL');
  if (mode === 'off') return undefined;
  return { mode, rules: { projectNumber, appIds: appIds.length > 0 ? new Set(appIds) : undefined }, jwksUrl };
}

/** Deleted users: how the cron and the queue find them, and how Stream deletes them. */
function reconcileSettings(read: SettingsReader): ReconcileSettings {
  return {
    batchSize: read.whole('RECONCILE_BATCH_SIZE', 1, 100),
    maxBatches: read.whole('RECONCILE_MAX_BATCHES', 1, 1000),
    maxDeletes: read.whole('RECONCILE_MAX_DELETES', 1, 10_000),
    dryRun: read.flag('RECONCILE_DRY_RUN'),
    deleteMode: read.parsed('STREAM_DELETE_MODE', parseDeleteMode) ?? parseDeleteMode(DEFAULTS.STREAM_DELETE_MODE),
    deleteIntervalMs: read.whole('RECONCILE_DELETE_INTERVAL_MS', 0, 60_000),
    maxMissingPercent: read.whole('RECONCILE_MAX_MISSING_PERCENT', 0, 100),
    taskWaitMs: read.whole('RECONCILE_TASK_WAIT_MS', 0, 30_000),
    queueBatchesPerRun: read.whole('RECONCILE_QUEUE_BATCHES_PER_RUN', 1, 100_000),
  };
}

/**
 * The deletion events route (src/events/): on with DELETION_EVENTS_AUDIENCE,
 * which then needs DELETION_EVENTS_SERVICE_ACCOUNT; a service account without
 * an audience is a half-done setup, reported rather than ignored.
 */
function deletionEventsSettings(read: SettingsReader): DeletionEventsSettings | undefined {
  const audience = read.text('DELETION_EVENTS_AUDIENCE');
  const serviceAccount = read.text('DELETION_EVENTS_SERVICE_ACCOUNT');
  const jwksUrl = read.url('GOOGLE_OIDC_JWKS_URL');
  if (audience === '') {
    if (serviceAccount !== '')
      read.fail('DELETION_EVENTS_SERVICE_ACCOUNT', 'is set but DELETION_EVENTS_AUDIENCE is not (the route stays off without it)');
    return undefined;
  }
  if (audience.length > 2048 || /\s/.test(audience))
    read.fail(
      'DELETION_EVENTS_AUDIENCE',
      "must be the push subscription's token audience (no spaces), e.g. https://tokens.example.com/v1/events/user-deleted",
    );
  if (serviceAccount === '')
    read.fail(
      'DELETION_EVENTS_SERVICE_ACCOUNT',
      "is required with DELETION_EVENTS_AUDIENCE (the push subscription's service account email)",
    );
  else if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(serviceAccount))
    read.fail('DELETION_EVENTS_SERVICE_ACCOUNT', 'must be a service account email, e.g. pubsub-push@PROJECT.iam.gserviceaccount.com');
  return { audience, serviceAccount, jwksUrl };
}

/** undefined = the admin routes are off. */
function adminTokenSetting(read: SettingsReader): string | undefined {
  const adminToken = read.text('ADMIN_TOKEN') || undefined;
  if (adminToken !== undefined && adminToken.length < MIN_ADMIN_TOKEN_LENGTH) {
    read.fail('ADMIN_TOKEN', `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 32)`);
  }
  return adminToken;
}

function parseCors(value: string, fail: Fail): CorsPolicy {
  const entries = splitList(value);
  if (entries.length === 0) return { kind: 'none' };
  if (entries.length === 1 && entries[0] === '*') return { kind: 'any' };
  const origins = new Set<string>();
  for (const entry of entries) {
    let origin: string | undefined;
    try {
      origin = new URL(entry).origin;
    } catch {
      origin = undefined;
    }
    if (origin === undefined || origin === 'null' || origin !== entry.replace(/\/$/, '')) {
      fail('CORS_ALLOWED_ORIGINS', `has "${entry}", which is not "*" or an origin like https://app.example.com`);
    } else {
      origins.add(origin);
    }
  }
  return { kind: 'list', origins };
}

import type { Env } from '../env';
import type { AppCheckRules } from '../firebase/app-check';
import { isLoopbackHost } from '../firebase/emulator';
import { parseServiceAccountKey, type ServiceAccountKey } from '../firebase/service-account';
import type { CorsPolicy } from '../http/cors';
import { parseDeleteMode } from '../reconcile/delete-mode';
import type { ReconcileSettings } from '../reconcile/reconcile';
import type { AccessPolicy } from '../stream/access';
import { STREAM_USER_FIELD_NAMES, type StreamUserField } from '../stream/profile';
import { DEFAULTS } from './defaults';
import { flag, httpUrl, splitList, wholeNumber, type Fail } from './parse';
import { isTenantId } from '../user-id';

/**
 * Settings, parsed and validated once per isolate by the composition root
 * (src/index.ts), the only module that reads them. Domain modules take the
 * narrow settings they use. Errors name the setting that is missing or
 * malformed and never echo a secret's value.
 */
/** FIREBASE_ANONYMOUS (anonymous = `firebase.sign_in_provider` is `anonymous`). */
export type AnonymousPolicy = 'allow' | 'token-only' | 'deny';
const ANONYMOUS_POLICIES: readonly string[] = ['allow', 'token-only', 'deny'];

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
  /** How long the create route trusts that an unchanged profile is still in Stream; 0 = always call Stream. */
  streamProfileCacheSeconds: number;
  cors: CorsPolicy;
  /** Identity Platform tenants whose users are served (project-level users always are). */
  tenants: ReadonlySet<string>;
  /** Custom claims → Stream role and teams. */
  access: AccessPolicy;
  /** Period of the STREAM_WRITE_LIMITER binding, for Retry-After. */
  writeLimitPeriodSeconds: number;
  /** Firebase App Check; undefined = off. */
  appCheck: { mode: 'monitor' | 'enforce'; rules: AppCheckRules; jwksUrl: string } | undefined;
  /** FIREBASE_CHECK_REVOKED: undefined = off; else how long each account's status is trusted. */
  checkRevoked: { cacheSeconds: number } | undefined;
  /** FIREBASE_ANONYMOUS: anonymous users served fully, with tokens only (no Stream write), or not at all. */
  anonymous: AnonymousPolicy;
  /** Set only when FIREBASE_AUTH_EMULATOR_HOST names a loopback host. */
  firebaseAuthEmulatorHost: string | undefined;
  identityToolkitUrl: string;
  serviceAccount: ServiceAccountKey | undefined;
  reconcile: ReconcileSettings;
  /** undefined = admin routes off. */
  adminToken: string | undefined;
  /** Not errors (the Worker serves, safely) but never silent: the composition root logs each once. */
  warnings: readonly ConfigWarning[];
}

export interface ConfigWarning {
  event: 'emulator_mode_refused';
  reason: string;
}

export { DEFAULTS };

/** An admin token shorter than this is refused: it guards user deletion. */
export const MIN_ADMIN_TOKEN_LENGTH = 32;

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
  const fail: Fail = (setting, problem) => {
    problems.push({ setting, problem });
  };

  const required = (name: keyof Env): string => {
    const value = env[name];
    if (typeof value !== 'string' || value.trim() === '') {
      fail(name, 'is required but not set');
      return '';
    }
    return value.trim();
  };

  const projectId = required('FIREBASE_PROJECT_ID');
  if (projectId && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(projectId)) {
    fail('FIREBASE_PROJECT_ID', 'must be a Firebase project id (lowercase letters, digits and hyphens)');
  }
  const streamApiKey = required('STREAM_API_KEY');
  if (streamApiKey && !/^[A-Za-z0-9]+$/.test(streamApiKey)) {
    fail('STREAM_API_KEY', 'must be letters and digits only');
  }
  // Never put the secret's value in a message: only say what is wrong with it.
  const streamApiSecret = required('STREAM_API_SECRET');

  const streamBaseUrl = httpUrl(env.STREAM_BASE_URL ?? DEFAULTS.STREAM_BASE_URL, 'STREAM_BASE_URL', fail);
  const firebaseJwksUrl = httpUrl(env.FIREBASE_JWKS_URL ?? DEFAULTS.FIREBASE_JWKS_URL, 'FIREBASE_JWKS_URL', fail);

  const streamTokenTtlSeconds = wholeNumber(
    env.STREAM_TOKEN_TTL_SECONDS ?? DEFAULTS.STREAM_TOKEN_TTL_SECONDS,
    'STREAM_TOKEN_TTL_SECONDS',
    0,
    MAX_TTL_SECONDS,
    fail,
  );

  const streamUserFields = new Set<StreamUserField>();
  for (const field of splitList(env.STREAM_USER_FIELDS ?? DEFAULTS.STREAM_USER_FIELDS)) {
    if ((STREAM_USER_FIELD_NAMES as readonly string[]).includes(field)) {
      streamUserFields.add(field as StreamUserField);
    } else {
      fail('STREAM_USER_FIELDS', `has unknown field "${field}" (allowed: ${STREAM_USER_FIELD_NAMES.join(', ')})`);
    }
  }

  const cors = parseCors(env.CORS_ALLOWED_ORIGINS ?? DEFAULTS.CORS_ALLOWED_ORIGINS, fail);
  const streamProfileCacheSeconds = wholeNumber(
    env.STREAM_PROFILE_CACHE_SECONDS ?? DEFAULTS.STREAM_PROFILE_CACHE_SECONDS,
    'STREAM_PROFILE_CACHE_SECONDS',
    0,
    86_400,
    fail,
  );

  const tenants = new Set<string>();
  for (const tenant of splitList(env.FIREBASE_TENANT_IDS ?? DEFAULTS.FIREBASE_TENANT_IDS)) {
    if (isTenantId(tenant)) tenants.add(tenant);
    else fail('FIREBASE_TENANT_IDS', `has "${tenant}", which is not a tenant id (letters, digits and hyphens)`);
  }

  const claimName = (setting: 'STREAM_ROLE_CLAIM' | 'STREAM_TEAMS_CLAIM'): string | undefined => {
    const name = (env[setting] ?? DEFAULTS[setting]).trim();
    if (name === '') return undefined;
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) fail(setting, 'must be the name of a custom claim (letters, digits, _)');
    return name;
  };
  const allowedRoles = new Set<string>();
  for (const role of splitList(env.STREAM_ALLOWED_ROLES ?? DEFAULTS.STREAM_ALLOWED_ROLES)) {
    if (/^[A-Za-z0-9_-]{1,64}$/.test(role)) allowedRoles.add(role);
    else fail('STREAM_ALLOWED_ROLES', `has "${role}", which is not a Stream role name`);
  }
  const access: AccessPolicy = { roleClaim: claimName('STREAM_ROLE_CLAIM'), allowedRoles, teamsClaim: claimName('STREAM_TEAMS_CLAIM') };
  const writeLimitPeriodSeconds = wholeNumber(
    env.STREAM_WRITE_LIMIT_PERIOD_SECONDS ?? DEFAULTS.STREAM_WRITE_LIMIT_PERIOD_SECONDS,
    'STREAM_WRITE_LIMIT_PERIOD_SECONDS',
    1,
    3600,
    fail,
  );

  const anonymous = (env.FIREBASE_ANONYMOUS ?? DEFAULTS.FIREBASE_ANONYMOUS).trim().toLowerCase() as AnonymousPolicy;
  if (!ANONYMOUS_POLICIES.includes(anonymous)) fail('FIREBASE_ANONYMOUS', 'must be allow, token-only or deny');

  const appCheckMode = (env.APP_CHECK ?? DEFAULTS.APP_CHECK).trim().toLowerCase();
  if (!['off', 'monitor', 'enforce'].includes(appCheckMode)) fail('APP_CHECK', 'must be off, monitor or enforce');
  const projectNumber = (env.FIREBASE_PROJECT_NUMBER ?? '').trim();
  if (appCheckMode === 'monitor' || appCheckMode === 'enforce') {
    if (!/^\d{1,20}$/.test(projectNumber)) fail('FIREBASE_PROJECT_NUMBER', 'is required with APP_CHECK (the project number, digits: Firebase console → Project settings)');
  }
  const appIdList = splitList(env.APP_CHECK_APP_IDS ?? DEFAULTS.APP_CHECK_APP_IDS);
  for (const appId of appIdList) {
    if (!/^[0-9]+:[0-9]+:[a-z]+:[0-9a-f]+$/i.test(appId)) fail('APP_CHECK_APP_IDS', `has "${appId}", which is not a Firebase app id (like 1:1234567890:web:abc123)`);
  }
  const appCheckJwksUrl = httpUrl(env.APP_CHECK_JWKS_URL ?? DEFAULTS.APP_CHECK_JWKS_URL, 'APP_CHECK_JWKS_URL', fail);
  const appCheck =
    appCheckMode === 'monitor' || appCheckMode === 'enforce'
      ? {
          mode: appCheckMode as 'monitor' | 'enforce',
          rules: { projectNumber, appIds: appIdList.length > 0 ? new Set(appIdList) : undefined },
          jwksUrl: appCheckJwksUrl,
        }
      : undefined;

  const checkRevoked = flag(env.FIREBASE_CHECK_REVOKED ?? DEFAULTS.FIREBASE_CHECK_REVOKED, 'FIREBASE_CHECK_REVOKED', fail);
  const checkRevokedCacheSeconds = wholeNumber(
    env.FIREBASE_CHECK_REVOKED_CACHE_SECONDS ?? DEFAULTS.FIREBASE_CHECK_REVOKED_CACHE_SECONDS,
    'FIREBASE_CHECK_REVOKED_CACHE_SECONDS',
    0,
    3600,
    fail,
  );

  let emulatorHost = env.FIREBASE_AUTH_EMULATOR_HOST?.trim() || undefined;
  if (emulatorHost && env.GOOGLE_SERVICE_ACCOUNT?.trim()) {
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
  }

  const identityToolkitUrl = httpUrl(
    env.FIREBASE_IDENTITY_TOOLKIT_URL ?? DEFAULTS.FIREBASE_IDENTITY_TOOLKIT_URL,
    'FIREBASE_IDENTITY_TOOLKIT_URL',
    fail,
  );
  let serviceAccount: ServiceAccountKey | undefined;
  if (env.GOOGLE_SERVICE_ACCOUNT !== undefined && env.GOOGLE_SERVICE_ACCOUNT.trim() !== '') {
    try {
      serviceAccount = parseServiceAccountKey(env.GOOGLE_SERVICE_ACCOUNT);
      // A key file of another project is the classic way to make every user look deleted (issue 8).
      if (projectId && serviceAccount.project_id !== undefined && serviceAccount.project_id !== projectId) {
        fail('GOOGLE_SERVICE_ACCOUNT', `belongs to project "${serviceAccount.project_id}", not FIREBASE_PROJECT_ID "${projectId}"`);
      }
    } catch (error) {
      fail('GOOGLE_SERVICE_ACCOUNT', (error as Error).message);
    }
  }
  let deleteMode = parseDeleteMode(DEFAULTS.STREAM_DELETE_MODE);
  try {
    deleteMode = parseDeleteMode(env.STREAM_DELETE_MODE ?? DEFAULTS.STREAM_DELETE_MODE);
  } catch (error) {
    fail('STREAM_DELETE_MODE', (error as Error).message);
  }
  const reconcile: ReconcileSettings = {
    batchSize: wholeNumber(env.RECONCILE_BATCH_SIZE ?? DEFAULTS.RECONCILE_BATCH_SIZE, 'RECONCILE_BATCH_SIZE', 1, 100, fail),
    maxBatches: wholeNumber(env.RECONCILE_MAX_BATCHES ?? DEFAULTS.RECONCILE_MAX_BATCHES, 'RECONCILE_MAX_BATCHES', 1, 1000, fail),
    maxDeletes: wholeNumber(env.RECONCILE_MAX_DELETES ?? DEFAULTS.RECONCILE_MAX_DELETES, 'RECONCILE_MAX_DELETES', 1, 10_000, fail),
    dryRun: flag(env.RECONCILE_DRY_RUN ?? DEFAULTS.RECONCILE_DRY_RUN, 'RECONCILE_DRY_RUN', fail),
    deleteMode,
    deleteIntervalMs: wholeNumber(env.RECONCILE_DELETE_INTERVAL_MS ?? DEFAULTS.RECONCILE_DELETE_INTERVAL_MS, 'RECONCILE_DELETE_INTERVAL_MS', 0, 60_000, fail),
    maxMissingPercent: wholeNumber(env.RECONCILE_MAX_MISSING_PERCENT ?? DEFAULTS.RECONCILE_MAX_MISSING_PERCENT, 'RECONCILE_MAX_MISSING_PERCENT', 0, 100, fail),
    taskWaitMs: wholeNumber(env.RECONCILE_TASK_WAIT_MS ?? DEFAULTS.RECONCILE_TASK_WAIT_MS, 'RECONCILE_TASK_WAIT_MS', 0, 30_000, fail),
    queueBatchesPerRun: wholeNumber(
      env.RECONCILE_QUEUE_BATCHES_PER_RUN ?? DEFAULTS.RECONCILE_QUEUE_BATCHES_PER_RUN,
      'RECONCILE_QUEUE_BATCHES_PER_RUN',
      1,
      100_000,
      fail,
    ),
  };
  const adminToken = env.ADMIN_TOKEN?.trim() || undefined;
  if (adminToken !== undefined && adminToken.length < MIN_ADMIN_TOKEN_LENGTH) {
    fail('ADMIN_TOKEN', `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 32)`);
  }

  const firebaseAdminAccess = Boolean((emulatorHost && isLoopbackHost(emulatorHost)) || serviceAccount);
  if (checkRevoked && !firebaseAdminAccess) {
    fail('FIREBASE_CHECK_REVOKED', 'needs GOOGLE_SERVICE_ACCOUNT (or the Auth emulator locally) to look accounts up');
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    firebaseProjectId: projectId,
    firebaseIssuer: `https://securetoken.google.com/${projectId}`,
    firebaseJwksUrl,
    streamApiKey,
    streamApiSecret,
    streamBaseUrl,
    streamTokenTtlSeconds,
    streamUserFields,
    streamProfileCacheSeconds,
    cors,
    tenants,
    access,
    writeLimitPeriodSeconds,
    checkRevoked: checkRevoked ? { cacheSeconds: checkRevokedCacheSeconds } : undefined,
    anonymous,
    appCheck,
    firebaseAuthEmulatorHost: emulatorHost && isLoopbackHost(emulatorHost) ? emulatorHost : undefined,
    identityToolkitUrl,
    serviceAccount,
    reconcile,
    adminToken,
    warnings,
  };
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

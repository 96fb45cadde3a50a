import type { Env } from './env';
import { isLoopbackHost } from './firebase/emulator';
import { parseServiceAccountKey, type ServiceAccountKey } from './firebase/service-account';
import { parseDeleteMode } from './reconcile/delete-mode';
import type { ReconcileSettings } from './reconcile/reconcile';

/**
 * Settings, parsed and validated once per isolate (see `getConfig`).
 * Errors name the setting that is missing or malformed and never echo a
 * secret's value.
 */
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
  /** Set only when FIREBASE_AUTH_EMULATOR_HOST names a loopback host. */
  firebaseAuthEmulatorHost: string | undefined;
  identityToolkitUrl: string;
  serviceAccount: ServiceAccountKey | undefined;
  reconcile: ReconcileSettings;
  /** undefined = admin routes off. */
  adminToken: string | undefined;
}

export type StreamUserField = 'name' | 'image' | 'email';
export const STREAM_USER_FIELD_NAMES: readonly StreamUserField[] = ['name', 'image', 'email'];

export type CorsPolicy = { kind: 'none' } | { kind: 'any' } | { kind: 'list'; origins: ReadonlySet<string> };

export const DEFAULTS = {
  STREAM_BASE_URL: 'https://chat.stream-io-api.com',
  FIREBASE_JWKS_URL: 'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com',
  STREAM_TOKEN_TTL_SECONDS: '3600',
  STREAM_USER_FIELDS: 'name,image',
  STREAM_PROFILE_CACHE_SECONDS: '3600',
  FIREBASE_IDENTITY_TOOLKIT_URL: 'https://identitytoolkit.googleapis.com',
  STREAM_DELETE_MODE: 'soft',
  RECONCILE_BATCH_SIZE: '100',
  RECONCILE_MAX_BATCHES: '10',
  RECONCILE_MAX_DELETES: '50',
  RECONCILE_DELETE_INTERVAL_MS: '500',
  RECONCILE_MAX_MISSING_PERCENT: '50',
} as const;

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

/** Parses every setting and reports all problems at once. Pure: no I/O. */
export function parseConfig(env: Env): Config {
  const problems: { setting: string; problem: string }[] = [];
  const fail = (setting: string, problem: string) => {
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

  const ttlText = (env.STREAM_TOKEN_TTL_SECONDS ?? DEFAULTS.STREAM_TOKEN_TTL_SECONDS).trim();
  let streamTokenTtlSeconds = 0;
  if (!/^\d+$/.test(ttlText) || Number(ttlText) > MAX_TTL_SECONDS) {
    fail('STREAM_TOKEN_TTL_SECONDS', `must be a whole number of seconds between 0 and ${MAX_TTL_SECONDS}`);
  } else {
    streamTokenTtlSeconds = Number(ttlText);
  }

  const streamUserFields = new Set<StreamUserField>();
  for (const field of splitList(env.STREAM_USER_FIELDS ?? DEFAULTS.STREAM_USER_FIELDS)) {
    if ((STREAM_USER_FIELD_NAMES as readonly string[]).includes(field)) {
      streamUserFields.add(field as StreamUserField);
    } else {
      fail('STREAM_USER_FIELDS', `has unknown field "${field}" (allowed: ${STREAM_USER_FIELD_NAMES.join(', ')})`);
    }
  }

  const cors = parseCors(env.CORS_ALLOWED_ORIGINS ?? '', fail);
  const streamProfileCacheSeconds = wholeNumber(
    env.STREAM_PROFILE_CACHE_SECONDS ?? DEFAULTS.STREAM_PROFILE_CACHE_SECONDS,
    'STREAM_PROFILE_CACHE_SECONDS',
    0,
    86_400,
    fail,
  );

  let emulatorHost = env.FIREBASE_AUTH_EMULATOR_HOST?.trim() || undefined;
  if (emulatorHost && env.GOOGLE_SERVICE_ACCOUNT?.trim()) {
    // Production credentials mean production: emulator mode stays off.
    console.error(
      JSON.stringify({
        event: 'emulator_mode_refused',
        reason: 'FIREBASE_AUTH_EMULATOR_HOST and GOOGLE_SERVICE_ACCOUNT are both set; emulator mode is OFF',
      }),
    );
    emulatorHost = undefined;
  }
  if (emulatorHost && !isLoopbackHost(emulatorHost)) {
    // Not an error (the Worker keeps serving, safely), but never silent.
    console.error(
      JSON.stringify({
        event: 'emulator_mode_refused',
        reason: 'FIREBASE_AUTH_EMULATOR_HOST is not a loopback address; emulator mode is OFF and unsigned ID tokens are rejected',
      }),
    );
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
    dryRun: flag(env.RECONCILE_DRY_RUN ?? 'false', 'RECONCILE_DRY_RUN', fail),
    deleteMode,
    deleteIntervalMs: wholeNumber(env.RECONCILE_DELETE_INTERVAL_MS ?? DEFAULTS.RECONCILE_DELETE_INTERVAL_MS, 'RECONCILE_DELETE_INTERVAL_MS', 0, 60_000, fail),
    maxMissingPercent: wholeNumber(env.RECONCILE_MAX_MISSING_PERCENT ?? DEFAULTS.RECONCILE_MAX_MISSING_PERCENT, 'RECONCILE_MAX_MISSING_PERCENT', 0, 100, fail),
  };
  const adminToken = env.ADMIN_TOKEN?.trim() || undefined;
  if (adminToken !== undefined && adminToken.length < MIN_ADMIN_TOKEN_LENGTH) {
    fail('ADMIN_TOKEN', `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 32)`);
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
    firebaseAuthEmulatorHost: emulatorHost && isLoopbackHost(emulatorHost) ? emulatorHost : undefined,
    identityToolkitUrl,
    serviceAccount,
    reconcile,
    adminToken,
  };
}

function wholeNumber(value: string, setting: string, min: number, max: number, fail: (setting: string, problem: string) => void): number {
  const text = value.trim();
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    fail(setting, `must be a whole number from ${min} to ${max}`);
    return min;
  }
  return Number(text);
}

function flag(value: string, setting: string, fail: (setting: string, problem: string) => void): boolean {
  const text = value.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(text)) return true;
  if (['false', '0', 'no', ''].includes(text)) return false;
  fail(setting, 'must be true or false');
  return false;
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

function httpUrl(value: string, setting: string, fail: (setting: string, problem: string) => void): string {
  try {
    const url = new URL(value.trim());
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
    if (url.search || url.hash) throw new Error('query');
    return url.href.replace(/\/+$/, '');
  } catch {
    fail(setting, 'must be an http(s) URL without query or fragment');
    return '';
  }
}

function parseCors(value: string, fail: (setting: string, problem: string) => void): CorsPolicy {
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

const cache = new WeakMap<object, Config>();

/**
 * The Config for this env object, parsed on first use and then reused for
 * the life of the isolate (Workers hands every request the same env object).
 * A ConfigError is not cached, so a fixed secret takes effect on the next request.
 */
export function getConfig(env: Env): Config {
  let config = cache.get(env);
  if (!config) {
    config = parseConfig(env);
    cache.set(env, config);
  }
  return config;
}

import type { Env } from './env';
import { isLoopbackHost } from './firebase/emulator';

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
  cors: CorsPolicy;
  /** Set only when FIREBASE_AUTH_EMULATOR_HOST names a loopback host. */
  firebaseAuthEmulatorHost: string | undefined;
}

export type StreamUserField = 'name' | 'image' | 'email';
export const STREAM_USER_FIELD_NAMES: readonly StreamUserField[] = ['name', 'image', 'email'];

export type CorsPolicy = { kind: 'none' } | { kind: 'any' } | { kind: 'list'; origins: ReadonlySet<string> };

export const DEFAULTS = {
  STREAM_BASE_URL: 'https://chat.stream-io-api.com',
  FIREBASE_JWKS_URL: 'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com',
  STREAM_TOKEN_TTL_SECONDS: '3600',
  STREAM_USER_FIELDS: 'name,image',
} as const;

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

  const emulatorHost = env.FIREBASE_AUTH_EMULATOR_HOST?.trim() || undefined;
  if (emulatorHost && !isLoopbackHost(emulatorHost)) {
    // Not an error (the Worker keeps serving, safely), but never silent.
    console.error(
      JSON.stringify({
        event: 'emulator_mode_refused',
        reason: 'FIREBASE_AUTH_EMULATOR_HOST is not a loopback address; emulator mode is OFF and unsigned ID tokens are rejected',
      }),
    );
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
    cors,
    firebaseAuthEmulatorHost: emulatorHost && isLoopbackHost(emulatorHost) ? emulatorHost : undefined,
  };
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

/**
 * The parse helpers every setting goes through. Each reports a problem to
 * `fail` (naming the setting, never echoing a secret's value) and returns a
 * harmless fallback, so parseConfig can report every problem at once.
 *
 * @module
 */
import type { Env } from '../env';
import { isSecureOrLoopback } from '../platform/loopback';
import { DEFAULTS } from './defaults';

export type Fail = (setting: string, problem: string) => void;

export function wholeNumber(value: string, setting: string, min: number, max: number, fail: Fail): number {
  const text = value.trim();
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    fail(setting, `must be a whole number from ${min} to ${max}`);
    return min;
  }
  return Number(text);
}

export function flag(value: string, setting: string, fail: Fail): boolean {
  const text = value.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(text)) return true;
  if (['false', '0', 'no', ''].includes(text)) return false;
  fail(setting, 'must be true or false');
  return false;
}

/** A comma-separated list, trimmed, without empty entries. */
export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

/**
 * A URL the Worker sends requests (and so tokens, keys or secrets) to:
 * `https://`, or `http://` only for a loopback host (local stand-ins and
 * emulators); no query or fragment; returned without a trailing slash.
 * Anything else is reported as a bad setting and never used: an
 * `http://` Stream or Google URL would send the server token or fetch keys
 * in the clear.
 */
export function httpUrl(value: string, setting: string, fail: Fail): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    fail(setting, 'must be an https URL without query or fragment');
    return '';
  }
  if (!isSecureOrLoopback(url) || url.search || url.hash) {
    fail(setting, 'must be an https URL without query or fragment (http only for a loopback host)');
    return '';
  }
  return url.href.replace(/\/+$/, '');
}

type Defaulted = keyof typeof DEFAULTS;
/** The settings that are plain text in `Env` (bindings are not read here). */
type TextSetting = { [K in keyof Env]-?: NonNullable<Env[K]> extends string ? K : never }[keyof Env];

/**
 * Reads each setting once, by its name alone: the value set, or its default
 * (src/config/defaults.ts), through the helpers above. Every problem goes to
 * `fail`, so one pass reports them all.
 */
export class SettingsReader {
  readonly #env: Env;
  readonly fail: Fail;

  constructor(env: Env, fail: Fail) {
    this.#env = env;
    this.fail = fail;
  }

  /** The value set, trimmed, or the default ('' for a setting without one). */
  text(name: TextSetting): string {
    const value: unknown = this.#env[name];
    // wrangler.toml may give a var as a number or a boolean (`RECONCILE_DRY_RUN = true`): read it as its text.
    if (value !== undefined && value !== null) return String(value).trim();
    return ((DEFAULTS as Partial<Record<string, string>>)[name] ?? '').trim();
  }

  /** A setting without a default (secrets, the project id): missing or blank is a problem. */
  required(name: TextSetting): string {
    const value = this.text(name);
    if (value === '') this.fail(name, 'is required but not set');
    return value;
  }

  whole(name: Defaulted, min: number, max: number): number {
    return wholeNumber(this.text(name), name, min, max, this.fail);
  }

  flag(name: Defaulted): boolean {
    return flag(this.text(name), name, this.fail);
  }

  url(name: Defaulted): string {
    return httpUrl(this.text(name), name, this.fail);
  }

  list(name: Defaulted): string[] {
    return splitList(this.text(name));
  }

  /** One of `allowed`, case-insensitive; else reported, and the first allowed value. */
  oneOf<T extends string>(name: Defaulted, allowed: readonly T[]): T {
    const value = this.text(name).toLowerCase();
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.fail(name, `must be ${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1]}`);
    return allowed[0]!;
  }

  /** A value a domain parser validates by throwing (a key file, a delete mode): its message is the problem. */
  parsed<T>(name: TextSetting, parse: (value: string) => T): T | undefined {
    try {
      return parse(this.text(name));
    } catch (error) {
      this.fail(name, (error as Error).message);
      return undefined;
    }
  }
}

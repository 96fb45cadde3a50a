import { isSecureOrLoopback } from '../firebase/emulator';

/**
 * The parse helpers every setting goes through. Each reports a problem to
 * `fail` (naming the setting, never echoing a secret's value) and returns a
 * harmless fallback, so parseConfig can report every problem at once.
 */
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
 * Anything else is reported as a bad setting and never used (issue 17): an
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

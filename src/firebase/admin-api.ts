/**
 * The one Firebase Auth admin call reconciliation needs: which of these uids
 * still exist (Identity Toolkit `accounts:lookup`, up to 100 per call).
 *
 * Strict on purpose: a uid counts as gone only when a successful, well-formed
 * answer does not list it. Any error, timeout, non-2xx or odd answer throws,
 * and the caller treats the whole batch as unknown.
 */
import { globalFetch } from '../platform/io';
export const MAX_LOOKUP_UIDS = 100;

export class FirebaseLookupError extends Error {
  override readonly name = 'FirebaseLookupError';
  readonly code = 'firebase_lookup_failed';
}

interface FirebaseAdminOptions {
  projectId: string;
  /** e.g. https://identitytoolkit.googleapis.com, or http://127.0.0.1:9099/identitytoolkit.googleapis.com for the emulator. */
  baseUrl: string;
  /** The Authorization header value. */
  authorization: () => Promise<string>;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export class FirebaseAdminClient {
  readonly #options: FirebaseAdminOptions;
  readonly #fetch: typeof fetch;

  constructor(options: FirebaseAdminOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? globalFetch;
  }

  /**
   * The subset of `uids` Firebase still has, among the users of `tenant`
   * ('' = project-level users). A project-level lookup does not see tenant
   * users, so the tenant must be the one the uid signed in with.
   */
  async existing(uids: string[], tenant = ''): Promise<Set<string>> {
    return new Set((await this.accounts(uids, tenant)).keys());
  }

  /** The accounts Firebase has among `uids` (in `tenant`), with what the revocation check needs. */
  async accounts(uids: string[], tenant = ''): Promise<Map<string, AccountRecord>> {
    if (uids.length === 0) return new Map();
    if (uids.length > MAX_LOOKUP_UIDS) throw new FirebaseLookupError(`at most ${MAX_LOOKUP_UIDS} uids per lookup`);
    const { projectId, baseUrl } = this.#options;
    let response: Response;
    try {
      response = await this.#fetch(`${baseUrl.replace(/\/+$/, '')}/v1/projects/${encodeURIComponent(projectId)}/accounts:lookup`, {
        method: 'POST',
        headers: { Authorization: await this.#options.authorization(), 'Content-Type': 'application/json' },
        body: JSON.stringify(tenant === '' ? { localId: uids } : { localId: uids, tenantId: tenant }),
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      throw new FirebaseLookupError(`accounts:lookup failed: ${error instanceof Error ? error.message : 'network error'}`, {
        cause: error,
      });
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new FirebaseLookupError(`accounts:lookup answered HTTP ${response.status}`);
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new FirebaseLookupError('accounts:lookup answered with something that is not JSON');
    }
    return parseLookup(body, uids);
  }
}

/** What an account's record says about its tokens. */
export interface AccountRecord {
  disabled: boolean;
  /** Tokens authenticated before this (Unix seconds) are revoked; undefined = never revoked. */
  validSince: number | undefined;
}

/** Validates an accounts:lookup answer; `users` is absent when none of the uids exist. */
function parseLookup(body: unknown, asked: string[]): Map<string, AccountRecord> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new FirebaseLookupError('accounts:lookup answer is not an object');
  const { kind, users } = body as { kind?: unknown; users?: unknown };
  if (kind !== 'identitytoolkit#GetAccountInfoResponse') {
    throw new FirebaseLookupError('accounts:lookup answer is not a GetAccountInfoResponse');
  }
  if (users === undefined) return new Map();
  if (!Array.isArray(users)) throw new FirebaseLookupError('accounts:lookup "users" is not an array');
  const askedSet = new Set(asked);
  const found = new Map<string, AccountRecord>();
  for (const user of users) {
    const { localId, disabled, validSince } = (user ?? {}) as { localId?: unknown; disabled?: unknown; validSince?: unknown };
    if (typeof localId !== 'string') throw new FirebaseLookupError('accounts:lookup user has no localId');
    // validSince is seconds as a string (firebase-admin multiplies it by 1000); anything else is not trusted.
    const since = typeof validSince === 'string' && /^\d+$/.test(validSince) ? Number(validSince) : undefined;
    if (validSince !== undefined && since === undefined) throw new FirebaseLookupError('accounts:lookup validSince is malformed');
    if (askedSet.has(localId)) found.set(localId, { disabled: disabled === true, validSince: since });
  }
  return found;
}

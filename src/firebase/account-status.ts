/**
 * What firebase-admin's `verifyIdToken(token, true)` adds to the signature
 * check: the account still exists, is not disabled, and the token was not
 * authenticated before the account's `validSince` (refresh tokens revoked).
 * Each answer is cached per isolate for `cacheSeconds`, so a busy user costs
 * one lookup a minute, not one per request. Firebase unreachable is 503: never a token.
 *
 * @module
 */
import { AppError, retrySoon } from '../errors';
import { FirebaseLookupError, type AccountRecord, type FirebaseAdminClient } from './admin-api';
import type { FirebaseClaims } from './verify-id-token';
import { TtlCache } from '../platform/ttl-cache';

interface AccountStatusOptions {
  client: FirebaseAdminClient;
  cacheSeconds: number;
  now: () => number;
  maxEntries?: number;
}

export class AccountStatusCheck {
  readonly #client: FirebaseAdminClient;
  /** Firebase's answer per `tenant/uid`; `record` undefined = no such account. */
  readonly #cache: TtlCache<{ record: AccountRecord | undefined }>;

  constructor(options: AccountStatusOptions) {
    this.#client = options.client;
    this.#cache = new TtlCache({ ttlMs: options.cacheSeconds * 1000, maxEntries: options.maxEntries ?? 10_000, now: options.now });
  }

  /** Throws AppError `user_not_found`, `user_disabled`, `token_revoked` or `firebase_unavailable`. */
  async check(claims: FirebaseClaims, tenant: string): Promise<void> {
    const record = await this.#record(claims.sub, tenant);
    if (record === undefined) throw new AppError('user_not_found', 'The Firebase account of this ID token no longer exists');
    if (record.disabled) throw new AppError('user_disabled', 'The Firebase account of this ID token is disabled');
    // As firebase-admin compares: auth_time (not iat) against validSince, both in seconds.
    if (record.validSince !== undefined && typeof claims.auth_time === 'number' && claims.auth_time * 1000 < record.validSince * 1000) {
      throw new AppError('token_revoked', 'This ID token was revoked: sign in again');
    }
  }

  async #record(uid: string, tenant: string): Promise<AccountRecord | undefined> {
    const key = `${tenant}/${uid}`;
    const cached = this.#cache.get(key);
    if (cached) return cached.record;
    let record: AccountRecord | undefined;
    try {
      record = (await this.#client.accounts([uid], tenant)).get(uid);
    } catch (error) {
      if (error instanceof FirebaseLookupError) {
        throw new AppError('firebase_unavailable', 'Firebase could not confirm the account is in good standing; try again shortly', {
          cause: error,
          headers: retrySoon(),
        });
      }
      throw error;
    }
    this.#cache.set(key, { record });
    return record;
  }
}

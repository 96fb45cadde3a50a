import { AppError } from './errors';
import type { FirebaseClaims } from './firebase/verify-id-token';
import type { UserRegistry } from './registry/registry';
import { StreamApiError } from './stream/errors';
import { profileFromClaims, type StreamUserField } from './stream/profile';
import { ProfileCache } from './stream/profile-cache';
import type { StreamRestClient } from './stream/rest-client';
import { tokenTimes, type StreamTokenSigner } from './stream/tokens';
import { syncStreamUser } from './stream/user-sync';
import { isValidStreamUserId } from './user-id';

/** What the token routes answer, in both protocols. */
export interface IssuedToken {
  token: string;
  userId: string;
  /** null for tokens without `exp` (STREAM_TOKEN_TTL_SECONDS=0). */
  expiresAt: Date | null;
}

/** The settings the token service reads (from Config, by the composition root). */
export interface TokenSettings {
  /** 0 = tokens without `exp`. */
  ttlSeconds: number;
  /** The Stream fields this service owns. */
  userFields: ReadonlySet<StreamUserField>;
  /** How long an unchanged profile written by this isolate is trusted to be in Stream; 0 = always call Stream. */
  profileCacheSeconds: number;
}

/** Hands a promise to the runtime to finish after the answer (`ctx.waitUntil`). */
export type Background = (promise: Promise<unknown>) => void;

export interface TokenServiceDeps {
  settings: TokenSettings;
  signer: StreamTokenSigner;
  stream: StreamRestClient;
  /** The registry of provisioned users; undefined when there is no D1 binding. */
  registry?: UserRegistry;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The three client-facing jobs of the original Cloud Functions, on verified
 * claims, and the registry rule that goes with them: every uid this service
 * serves is recorded for deletion reconciliation. Protocol-free: src/http/
 * turns these into callable or REST answers.
 */
export class TokenService {
  readonly #deps: TokenServiceDeps;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #profiles: ProfileCache;

  constructor(deps: TokenServiceDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#profiles = new ProfileCache({ ttlSeconds: deps.settings.profileCacheSeconds, now: this.#now });
  }

  /** A Stream token for the caller. No call to Stream; the uid is registered in the background. */
  async issueToken(claims: FirebaseClaims, background: Background): Promise<IssuedToken> {
    const issued = await this.#sign(claims);
    this.#deps.registry?.remember(issued.userId, background);
    return issued;
  }

  async #sign(claims: FirebaseClaims): Promise<IssuedToken> {
    const uid = streamUserId(claims);
    const times = tokenTimes(this.#now(), this.#deps.settings.ttlSeconds);
    const token = await this.#deps.signer.userToken(uid, times);
    return { token, userId: uid, expiresAt: times.exp === undefined ? null : new Date(times.exp * 1000) };
  }

  /**
   * Creates the caller's Stream user or updates the fields we own, then
   * issues a token. No token if Stream fails. The uid is registered before
   * Stream has the user, so no Stream user this service makes goes
   * unregistered. Skips Stream when this isolate already wrote exactly this
   * profile recently (STREAM_PROFILE_CACHE_SECONDS).
   */
  async createUserAndIssueToken(claims: FirebaseClaims): Promise<IssuedToken> {
    const uid = streamUserId(claims);
    const { settings, stream, registry } = this.#deps;
    await registry?.recordNow(uid);
    const profile = profileFromClaims(claims, settings.userFields);
    if (!this.#profiles.isCurrent(uid, profile)) {
      await streamCall(() => syncStreamUser(stream, uid, profile, settings.userFields));
      this.#profiles.remember(uid, profile);
    }
    return this.#sign(claims);
  }

  /**
   * Revokes every Stream token of the caller issued up to now.
   *
   * Tokens carry `iat` in whole seconds while the revocation time has
   * milliseconds. The answer is held until the clock has passed the
   * revocation's second, so every token issued after this call returns has an
   * `iat` strictly later than that second and is accepted whichever way Stream
   * rounds; tokens issued before the call are revoked. (At most 1 s of waiting.)
   */
  async revokeTokens(claims: FirebaseClaims, background: Background): Promise<{ userId: string; revokedBefore: Date }> {
    const uid = streamUserId(claims);
    const revokedBefore = new Date(this.#now());
    await streamCall(() => this.#deps.stream.revokeUserTokens(uid, revokedBefore));
    this.#deps.registry?.remember(uid, background);
    const nextSecond = (Math.floor(revokedBefore.getTime() / 1000) + 1) * 1000;
    const wait = nextSecond - this.#now();
    if (wait > 0) await this.#sleep(wait);
    return { userId: uid, revokedBefore };
  }
}

function streamUserId(claims: FirebaseClaims): string {
  if (!isValidStreamUserId(claims.sub)) {
    // Firebase allows uids (from custom tokens) that Stream rejects: say so plainly instead of failing upstream.
    throw new AppError(
      'unsupported_uid',
      'This Firebase uid contains characters Stream does not accept in user ids (allowed: letters, digits, @, _ and -)',
    );
  }
  return claims.sub;
}

async function streamCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof StreamApiError) {
      const detail = error.status === 0 ? 'no response' : `status ${error.status}${error.code === undefined ? '' : `, code ${error.code}`}`;
      throw new AppError('stream_failed', `Stream request failed (${detail})`, { cause: error });
    }
    throw error;
  }
}

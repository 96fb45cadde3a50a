import { Admission, isAnonymous, type AnonymousPolicy } from './admission';
import { AppError } from './errors';
import type { AccountStatusCheck } from './firebase/account-status';
import { FirebaseLookupError } from './firebase/admin-api';
import type { FirebaseClaims } from './firebase/verify-id-token';
import { deleteSelf, type SelfDeleteAnswer } from './reconcile/self-delete';
import type { ReconcileDeps } from './reconcile/types';
import type { NearRegistry } from './registry/near-registry';
import type { UserRegistry } from './registry/registry';
import type { RegistryWriteBehind } from './registry/write-behind';
import { answeringStreamFailures, streamFailure } from './stream/answers';
import { StreamApiError } from './stream/errors';
import { accessFromClaims, type AccessPolicy } from './stream/access';
import { profileFromClaims, type StreamProfile, type StreamUserField } from './stream/profile';
import { ProfileCache, profileHash } from './stream/profile-cache';
import type { StreamRestClient } from './stream/rest-client';
import { IAT_BACKDATE_SECONDS, tokenTimes, type StreamTokenSigner } from './stream/tokens';
import type { WritesUsers } from './stream/user-writer';
import { sleep, type Background, type Sleep } from './platform/io';
import { log, errorText } from './platform/log';

/** What the token routes answer, in both protocols. */
export interface IssuedToken {
  token: string;
  userId: string;
  /** null for tokens without `exp` (STREAM_TOKEN_TTL_SECONDS=0). */
  expiresAt: Date | null;
}

/** The user as written to Stream: what a client passes to `connectUser`, so it does not overwrite the name with nothing. */
interface ConnectUser {
  id: string;
  name?: string;
  image?: string;
}

/** The settings the token service reads: fields of Config (src/config/config.ts), documented there and in src/env.ts. */
interface TokenSettings {
  /** streamTokenTtlSeconds. */
  ttlSeconds: number;
  /** streamUserFields. */
  userFields: ReadonlySet<StreamUserField>;
  /** streamProfileCacheSeconds. */
  profileCacheSeconds: number;
  /** FIREBASE_TENANT_IDS. */
  tenants: ReadonlySet<string>;
  /** STREAM_ROLE_CLAIM, STREAM_ALLOWED_ROLES, STREAM_TEAMS_CLAIM. */
  access: AccessPolicy;
  /** STREAM_WRITE_LIMIT_PERIOD_SECONDS. */
  writeLimitPeriodSeconds: number;
  /** FIREBASE_ANONYMOUS. */
  anonymous: AnonymousPolicy;
}

/** What the token service is built from, by the composition root (src/index.ts). */
interface TokenServiceDeps {
  settings: TokenSettings;
  signer: StreamTokenSigner;
  stream: StreamRestClient;
  /** The registry of provisioned users (read near, written behind); undefined when there is no D1 binding. */
  registry?: { store: UserRegistry; near: NearRegistry; writeBehind: RegistryWriteBehind };
  /** Reconciliation's dependencies, for the self-service delete; undefined when reconciliation is off. */
  reconcile?: ReconcileDeps;
  /** Per-user budget of Stream writes (the STREAM_WRITE_LIMITER binding); undefined = no limit. */
  writeLimiter?: RateLimit;
  /** Per-client-address budget of Stream writes (STREAM_WRITE_IP_LIMITER): many accounts, one address; undefined = no limit. */
  ipLimiter?: RateLimit;
  /** FIREBASE_CHECK_REVOKED: disabled accounts and revoked tokens are refused; undefined = off. */
  accountStatus?: AccountStatusCheck;
  /** Where user writes go: through the SIGNUP_BATCHER Durable Object, or straight from this isolate. */
  writer: WritesUsers;
  /** The clock (Date.now; a test's own). */
  now: () => number;
  sleep?: Sleep;
}

/**
 * The client-facing jobs of the original Cloud Functions, on verified
 * claims: issue, create/update, revoke, and the self-service delete. Every
 * route asks admission first (src/admission.ts: which tenants are served,
 * that every uid served is registered, that a uid never crosses tenants, that
 * a deleted uid is not brought back), spends the write budget before any
 * Stream call, and answers Stream's failures as src/stream/answers.ts says.
 * Protocol-free: src/http/ turns these into callable or REST answers.
 */
export class TokenService {
  readonly #deps: TokenServiceDeps;
  readonly #now: () => number;
  readonly #sleep: Sleep;
  readonly #profiles: ProfileCache;
  readonly #writer: WritesUsers;
  readonly #admission: Admission;

  constructor(deps: TokenServiceDeps) {
    this.#deps = deps;
    this.#now = deps.now;
    this.#sleep = deps.sleep ?? sleep;
    this.#admission = new Admission({
      policy: deps.settings,
      registry: deps.registry,
      accountStatus: deps.accountStatus,
      registrationLimiter: deps.ipLimiter ? { limiter: deps.ipLimiter, periodSeconds: deps.settings.writeLimitPeriodSeconds } : undefined,
      now: this.#now,
    });
    this.#profiles = new ProfileCache({ ttlSeconds: deps.settings.profileCacheSeconds, now: this.#now });
    this.#writer = deps.writer;
  }

  /**
   * A Stream token for the caller. No call to Stream; a returning user's
   * registry entry is read near (memory or a replica), a new uid is recorded
   * first (src/admission.ts).
   */
  async issueToken(claims: FirebaseClaims, background: Background, clientIp?: string): Promise<IssuedToken> {
    const caller = await this.#admission.admit(claims, { background, clientIp });
    return this.#sign(caller.uid);
  }

  /**
   * Creates the caller's Stream user or updates the fields we own, then
   * issues a token. No token if Stream fails. The uid is registered before
   * Stream has the user, and if the registry cannot record it no Stream user
   * is created: no Stream user this service makes goes unregistered.
   *
   * Skips Stream when exactly this profile was written recently
   * (STREAM_PROFILE_CACHE_SECONDS), as the registry records for every
   * isolate (and this isolate for itself, without a registry). Writes share
   * batched requests with concurrent sign-ups (src/stream/user-writer.ts).
   */
  async createUserAndIssueToken(
    claims: FirebaseClaims,
    background: Background,
    clientIp?: string,
  ): Promise<IssuedToken & { user: ConnectUser }> {
    const caller = await this.#admission.admit(claims, { writes: true, background, clientIp });
    const { settings } = this.#deps;
    const registry = this.#deps.registry;
    const profile = profileFromClaims(claims, settings.userFields);
    if (isAnonymous(claims) && settings.anonymous === 'token-only') {
      // A token, and the user as the client should connect with it; nothing written to Stream.
      return { ...(await this.#sign(caller.uid)), user: connectUser(caller.uid, profile) };
    }
    const { access, refused } = accessFromClaims(claims, settings.access);
    // A refused claim is left out (the rest of the profile is still synced), and an operator should know.
    for (const reason of refused) log.warn('claim_refused', { reason });
    // The registry's memory serves every isolate, this isolate's own cache the rest: both keep the hash.
    const hash = await profileHash(profile, access);
    const writtenRecently = caller.written?.hash === hash && this.#now() - caller.written.at < settings.profileCacheSeconds * 1000;
    if (!writtenRecently && !this.#profiles.isCurrent(caller.uid, hash)) {
      await this.#spendWriteBudget(caller.uid, clientIp);
      await this.#admission.confirmOnPrimary(caller);
      // A field we own that the claims no longer carry (a removed photo) is cleared; role and teams never are.
      const unset = [...settings.userFields].filter((field) => profile[field] === undefined);
      await answeringStreamFailures(() => this.#writer.write({ id: caller.uid, set: { ...profile, ...access }, unset }), this.#deps.stream);
      this.#profiles.remember(caller.uid, hash);
      if (registry && settings.profileCacheSeconds > 0) {
        const at = this.#now();
        registry.near.amend(caller.uid, (known) => ({ ...known, written: { hash, at } }));
        background(
          registry.store.recordProfileWritten(caller.uid, hash).catch((error: unknown) => {
            log.error('registry_write_failed', { error: errorText(error) });
          }),
        );
      }
    }
    return { ...(await this.#sign(caller.uid)), user: connectUser(caller.uid, profile) };
  }

  /**
   * Revokes every Stream token of the caller issued up to now.
   *
   * Effective for every uid this service issued a token to, including one
   * that only ever fetched tokens and has no Stream user yet: Stream
   * would create that user from such a token on connect, with no revocation.
   * So when Stream does not have the user, it is created first (registered
   * before, as on the create routes; nothing can be overwritten, since it
   * does not exist) and the revocation set on it by partial update, the only
   * way Stream takes `revoke_tokens_issued_before`.
   *
   * Tokens carry `iat` in whole seconds, one second back (IAT_BACKDATE_SECONDS),
   * while the revocation time has milliseconds. The answer is held until
   * every token issued from then on has an `iat` strictly later than the
   * revocation's second (the clock must pass that second plus the backdating),
   * so it is accepted whichever way Stream rounds; tokens issued before the
   * call are revoked. (At most 2 s of waiting.)
   */
  async revokeTokens(claims: FirebaseClaims, background: Background, clientIp?: string): Promise<{ userId: string; revokedBefore: Date }> {
    const caller = await this.#admission.admit(claims, { writes: true, background, clientIp });
    const { uid } = caller;
    this.#admission.refuseTokenOnly(claims);
    await this.#spendWriteBudget(uid, clientIp);
    const revokedBefore = new Date(this.#now());
    const revoked = await answeringStreamFailures(() => this.#setRevocation(uid, revokedBefore), this.#deps.stream);
    if (!revoked) {
      // Stream does not have the user: the primary says whether it may be created (a copy may not know it was deleted).
      await this.#admission.confirmOnPrimary(caller);
      const { access } = accessFromClaims(claims, this.#deps.settings.access);
      const profile = profileFromClaims(claims, this.#deps.settings.userFields);
      await answeringStreamFailures(
        () => this.#writer.write({ id: caller.uid, set: { ...profile, ...access }, unset: [] }),
        this.#deps.stream,
      );
      this.#profiles.remember(caller.uid, await profileHash(profile, access));
      if (!(await answeringStreamFailures(() => this.#setRevocation(uid, revokedBefore), this.#deps.stream))) {
        throw new AppError('stream_failed', 'Stream did not take the revocation: it does not have the user it just created');
      }
    }
    const firstCleanSecond = (Math.floor(revokedBefore.getTime() / 1000) + 1 + IAT_BACKDATE_SECONDS) * 1000;
    const wait = firstCleanSecond - this.#now();
    if (wait > 0) await this.#sleep(wait);
    return { userId: uid, revokedBefore };
  }

  /**
   * The revocation as a partial update; false when Stream does not have the
   * user, whether it says so (404, code 16) or answers without the user.
   */
  async #setRevocation(uid: string, before: Date): Promise<boolean> {
    try {
      const answer = await this.#deps.stream.revokeUserTokens(uid, before);
      return answer.users?.[uid] !== undefined;
    } catch (error) {
      if (error instanceof StreamApiError && error.isNotFound) return false;
      throw error;
    }
  }

  /**
   * The self-service delete (src/reconcile/self-delete.ts): called right
   * after the app deleted the Firebase account, with the ID token it still holds.
   */
  async deleteStreamUser(claims: FirebaseClaims, clientIp?: string): Promise<SelfDeleteAnswer> {
    // The account is expected to be gone here: its status is not checked, Firebase's absence is the point.
    const { uid, tenant } = await this.#admission.admit(claims, { accountMayBeGone: true });
    this.#admission.refuseTokenOnly(claims);
    const reconcile = this.#deps.reconcile;
    if (!reconcile) {
      throw new AppError('forbidden', 'Self-service deletion is off: configure reconciliation (DB, Firebase admin access)');
    }
    await this.#spendWriteBudget(uid, clientIp);
    let answer: SelfDeleteAnswer;
    try {
      answer = await deleteSelf(uid, tenant, reconcile);
    } catch (error) {
      if (error instanceof FirebaseLookupError) {
        throw new AppError('firebase_failed', 'Firebase could not say whether the account is gone; nothing was deleted', { cause: error });
      }
      if (error instanceof StreamApiError) throw streamFailure(error);
      throw error;
    }
    if (!answer.deleted && answer.reason === 'failed') {
      throw new AppError('stream_failed', 'Stream did not delete the user; the deletion is retried by the next run');
    }
    return answer;
  }

  /**
   * One signed-in user must not be able to spend the whole app's Stream quota
   * (300 user updates a minute, app-wide): every route that calls Stream takes
   * one from the uid's budget first (STREAM_WRITE_LIMITER), and one from the
   * client address's (STREAM_WRITE_IP_LIMITER: anonymous sign-in makes
   * accounts free, so one client can be many uids); none without the bindings.
   */
  async #spendWriteBudget(uid: string, clientIp: string | undefined): Promise<void> {
    const { writeLimiter, ipLimiter } = this.#deps;
    const refused = () =>
      new AppError('rate_limited', 'Too many Stream writes; try again in a minute', {
        headers: { 'Retry-After': String(this.#deps.settings.writeLimitPeriodSeconds) },
      });
    if (writeLimiter && !(await writeLimiter.limit({ key: uid })).success) throw refused();
    if (ipLimiter && clientIp && !(await ipLimiter.limit({ key: `ip:${clientIp}` })).success) throw refused();
  }

  async #sign(uid: string): Promise<IssuedToken> {
    const times = tokenTimes(this.#now(), this.#deps.settings.ttlSeconds);
    const token = await this.#deps.signer.userToken(uid, times);
    return { token, userId: uid, expiresAt: times.exp === undefined ? null : new Date(times.exp * 1000) };
  }
}

/** The user as written to Stream (or as it would be): what the client passes to `connectUser`. */
function connectUser(uid: string, profile: StreamProfile): ConnectUser {
  const user: ConnectUser = { id: uid };
  if (profile.name !== undefined) user.name = profile.name;
  if (profile.image !== undefined) user.image = profile.image;
  return user;
}

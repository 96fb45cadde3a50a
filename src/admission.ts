import { AppError, retrySoon } from './errors';
import type { AccountStatusCheck } from './firebase/account-status';
import type { FirebaseClaims } from './firebase/verify-id-token';
import type { Background } from './platform/io';
import type { NearRegistry } from './registry/near-registry';
import type { RegistryEntry, WrittenProfile } from './registry/registry';
import type { RegistryWriteBehind } from './registry/write-behind';
import { isValidStreamUserId } from './user-id';
import { log, errorText } from './platform/log';

/** A caller the policy admits: its uid (a valid Stream user id) and tenant ('' = project-level). */
interface Caller {
  uid: string;
  tenant: string;
  /** What this service last wrote to Stream for the uid, as the registry's copy has it. */
  written?: WrittenProfile;
  /** The entry came from D1's primary just now (a new uid), not from a copy that may lag. */
  fromPrimary?: boolean;
}

/** The registry, as admission uses it: read near, write far and rarely, the rest behind the answer. */
interface AdmissionRegistry {
  near: NearRegistry;
  writeBehind: RegistryWriteBehind;
}

/** The settings admission reads (from Config, by the composition root through the token service; src/env.ts says what each means). */
interface AdmissionPolicy {
  /** FIREBASE_TENANT_IDS. */
  tenants: ReadonlySet<string>;
  /** FIREBASE_ANONYMOUS. */
  anonymous: AnonymousPolicy;
}

interface AdmitOptions {
  /**
   * The route writes to Stream for the caller (create, revoke's create): a
   * uid no copy of the registry knows must then be recorded durably first,
   * so no Stream user this service makes goes unregistered.
   */
  writes?: boolean;
  /** The self-service delete: the account is expected to be gone, and the route reads the registry itself. */
  accountMayBeGone?: boolean;
  /** The client's address key (src/http/), for the per-address budget of first registrations. */
  clientIp?: string;
  background?: Background;
}

/**
 * A registry entry's evidence of life is refreshed when older than this: the
 * brake's witnesses (src/reconcile/checker.ts) need users known to exist
 * within hours, and a user who fetches a token every hour then costs one
 * background row write a day, not one per token.
 */
const ALIVE_REFRESH_MS = 24 * 3600_000;

/** FIREBASE_ANONYMOUS. */
export type AnonymousPolicy = 'allow' | 'token-only' | 'deny';

/** A uid registered under one tenant, presented with a token of another: its Stream user belongs to the first. */
export function tenantMismatch(): AppError {
  return new AppError('tenant_mismatch', "This uid is registered under another tenant; its Stream user belongs to that tenant's user");
}

const noBackground: Background = () => undefined;

/**
 * Who may be served, before anything is issued or written: a uid Stream can
 * use, not an anonymous user the app refuses, a tenant this deployment
 * serves, an account that is not disabled or revoked (FIREBASE_CHECK_REVOKED),
 * and, with a registry, the tenant the uid is bound to (a uid never crosses
 * tenants) and whether it was deleted (410 on every route). The token service
 * asks it first on every route.
 *
 * The registry is read near (memory, then a replica) and written on the
 * primary only for a uid no copy knows; a D1 outage refuses no valid token
 * in a project-level deployment (docs/deletion.md, "Where the registry is read").
 */
export class Admission {
  readonly #policy: AdmissionPolicy;
  readonly #registry: AdmissionRegistry | undefined;
  readonly #accountStatus: AccountStatusCheck | undefined;
  readonly #registrationLimiter: { limiter: RateLimit; periodSeconds: number } | undefined;
  readonly #now: () => number;

  constructor(deps: {
    policy: AdmissionPolicy;
    registry?: AdmissionRegistry;
    accountStatus?: AccountStatusCheck;
    /** Per-address budget that a new uid's first registration spends (STREAM_WRITE_IP_LIMITER, under a key of its own), and its period. */
    registrationLimiter?: { limiter: RateLimit; periodSeconds: number };
    now: () => number;
  }) {
    this.#policy = deps.policy;
    this.#registry = deps.registry;
    this.#accountStatus = deps.accountStatus;
    this.#registrationLimiter = deps.registrationLimiter;
    this.#now = deps.now;
  }

  /** The policy every route applies before anything else. */
  async admit(claims: FirebaseClaims, options: AdmitOptions = {}): Promise<Caller> {
    if (isAnonymous(claims) && this.#policy.anonymous === 'deny') {
      throw new AppError('anonymous_not_allowed', 'This app does not serve anonymous Firebase users (FIREBASE_ANONYMOUS=deny)');
    }
    const uid = streamUserId(claims);
    const tenant = tenantOf(claims);
    if (tenant !== '' && !this.#policy.tenants.has(tenant)) {
      throw new AppError('tenant_not_allowed', 'This app does not serve users of this Identity Platform tenant (FIREBASE_TENANT_IDS)');
    }
    if (this.#accountStatus && !options.accountMayBeGone) await this.#accountStatus.check(claims, tenant);
    const registry = this.#registry;
    // Without a registry there is nothing to bind to (and tenants are refused by the configuration).
    if (!registry || options.accountMayBeGone) return { uid, tenant };
    const background = options.background ?? noBackground;
    registry.writeBehind.kick(background);

    const { entry, fromPrimary } = await this.#entry(registry, uid, tenant, options, background);
    return { uid, tenant, written: servable(entry, tenant).written, fromPrimary };
  }

  /**
   * An admitted caller's entry as the primary has it, right before a route
   * writes its Stream user: a copy (memory, a replica) may not know yet that
   * the uid was deleted, and Stream cannot create a deleted id again. One
   * primary statement, only on the way to a Stream write (itself a far call).
   */
  async confirmOnPrimary(caller: Caller): Promise<void> {
    const registry = this.#registry;
    if (!registry || caller.fromPrimary) return;
    let entry: RegistryEntry;
    try {
      entry = await registry.near.register(caller.uid, caller.tenant);
    } catch (error) {
      // The copy already bound the uid to its tenant (that never changes); only a deletion could be missed,
      // and Stream itself refuses to recreate a deleted id. So a D1 outage does not stop the write.
      log.error('registry_write_failed', { error: errorText(error) });
      return;
    }
    servable(entry, caller.tenant);
  }

  /**
   * The uid's entry: from memory or a replica when any copy has it (and its
   * evidence of life refreshed behind the answer when old), else recorded on
   * the primary. When D1 cannot answer, see #unavailable.
   */
  async #entry(
    registry: AdmissionRegistry,
    uid: string,
    tenant: string,
    options: AdmitOptions,
    background: Background,
  ): Promise<{ entry: RegistryEntry; fromPrimary: boolean }> {
    const now = this.#now();
    if (registry.near.down && !registry.near.remembered(uid)) {
      return {
        entry: await this.#unavailable(registry, uid, tenant, options, background, new Error('D1 failed moments ago')),
        fromPrimary: false,
      };
    }
    let readFailed = false;
    try {
      const entry = await registry.near.find(uid, background);
      if (entry) {
        if (entry.state === 'active' && entry.tenant === tenant && (entry.aliveAt === null || now - entry.aliveAt >= ALIVE_REFRESH_MS)) {
          registry.writeBehind.refresh({ uid, tenant, at: now }, background);
          registry.near.amend(uid, (known) => ({ ...known, aliveAt: now }));
        }
        return { entry, fromPrimary: false };
      }
    } catch (error) {
      readFailed = true;
      log.error('registry_read_failed', { error: errorText(error) });
    }
    // No copy knows the uid (a new user, or a replica that lags): it is recorded before it is served, and
    // that write spends the address's budget of first registrations (D1 bills rows written; free accounts
    // must not be able to spend the day's writes). A read that failed is not taken for a new uid.
    if (!readFailed) await this.#spendRegistrationBudget(options.clientIp);
    try {
      return { entry: await registry.near.register(uid, tenant), fromPrimary: true };
    } catch (error) {
      log.error('registry_write_failed', { error: errorText(error) });
      if (readFailed) registry.near.markDown();
      return { entry: await this.#unavailable(registry, uid, tenant, options, background, error), fromPrimary: false };
    }
  }

  /**
   * D1 can say nothing about the uid. Tenants never share a Stream user,
   * outage or not: where tenants are configured, or any registry row is bound
   * to one (or this isolate never learnt that none is), the uid is refused
   * (503). A project-level deployment serves it, and it is recorded when D1
   * answers again (through the queue when one is bound). A route that writes
   * to Stream needs that record to be durable first.
   */
  async #unavailable(
    registry: AdmissionRegistry,
    uid: string,
    tenant: string,
    options: AdmitOptions,
    background: Background,
    cause: unknown,
  ): Promise<RegistryEntry> {
    const refuse = () =>
      new AppError(
        'registry_unavailable',
        options.writes
          ? 'The user registry is unavailable, so no Stream user was created; try again shortly'
          : 'The user registry is unavailable; try again shortly',
        { cause, headers: retrySoon() },
      );
    const projectLevelOnly = tenant === '' && this.#policy.tenants.size === 0 && (await registry.near.recallTenantRows()) === false;
    if (!projectLevelOnly) throw refuse();
    const durable = await registry.writeBehind.defer({ uid, tenant, at: this.#now() }, background);
    if (options.writes && !durable) throw refuse();
    log.warn('registry_deferred', { durable });
    return { tenant, state: 'active', aliveAt: null, written: undefined };
  }

  async #spendRegistrationBudget(clientIp: string | undefined): Promise<void> {
    const budget = this.#registrationLimiter;
    if (!budget || !clientIp) return;
    if (!(await budget.limiter.limit({ key: `register:${clientIp}` })).success) {
      throw new AppError('rate_limited', 'Too many new users from this address; try again in a minute', {
        headers: { 'Retry-After': String(budget.periodSeconds) },
      });
    }
  }

  /** FIREBASE_ANONYMOUS=token-only: nothing is ever written to Stream for an anonymous user, revocations and deletions included. */
  refuseTokenOnly(claims: FirebaseClaims): void {
    if (isAnonymous(claims) && this.#policy.anonymous === 'token-only') {
      throw new AppError(
        'anonymous_not_allowed',
        'Anonymous users get tokens only (FIREBASE_ANONYMOUS=token-only): nothing is written to Stream for them; their tokens expire after STREAM_TOKEN_TTL_SECONDS',
      );
    }
  }
}

/** The entry, if its uid may be served to a caller of `tenant`: the same tenant, and not deleted (410). */
function servable(entry: RegistryEntry, tenant: string): RegistryEntry {
  if (entry.tenant !== tenant) throw tenantMismatch();
  if (entry.state !== 'active') {
    log.error('deleted_user_returned', { state: entry.state });
    throw new AppError('user_deleted', 'This user was deleted from Firebase and from Stream; Stream cannot create the same user id again');
  }
  return entry;
}

/** Signed in anonymously: `firebase.sign_in_provider` is `anonymous`. */
export function isAnonymous(claims: FirebaseClaims): boolean {
  const firebase = claims.firebase as { sign_in_provider?: unknown } | undefined;
  return typeof firebase === 'object' && firebase !== null && firebase.sign_in_provider === 'anonymous';
}

/** `firebase.tenant` of an Identity Platform tenant user's token; '' for project-level users. */
function tenantOf(claims: FirebaseClaims): string {
  const firebase = claims.firebase as { tenant?: unknown } | undefined;
  const tenant = firebase && typeof firebase === 'object' ? firebase.tenant : undefined;
  if (tenant === undefined || tenant === null) return '';
  if (typeof tenant !== 'string' || tenant === '') throw new AppError('invalid_token', 'ID token has a malformed tenant claim');
  return tenant;
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

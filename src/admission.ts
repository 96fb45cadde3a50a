import type { AnonymousPolicy } from './config/config';
import { AppError } from './errors';
import type { AccountStatusCheck } from './firebase/account-status';
import type { FirebaseClaims } from './firebase/verify-id-token';
import { tenantMismatch } from './reconcile/self-delete';
import type { UserRegistry, WrittenProfile } from './registry/registry';
import { isValidStreamUserId } from './user-id';

/** A caller the policy admits: its uid (a valid Stream user id) and tenant ('' = project-level). */
interface Caller {
  uid: string;
  tenant: string;
  /** On the create routes: what this service last wrote to Stream for the uid. */
  written?: WrittenProfile;
}

/** uid → tenant, learnt from the registry (a uid's tenant never changes once registered); bounded. */
const MAX_KNOWN_TENANTS = 50_000;

/** The settings admission reads (from Config, by the composition root through the token service). */
interface AdmissionPolicy {
  /** Identity Platform tenants whose users are served; project-level users always are. */
  tenants: ReadonlySet<string>;
  /** FIREBASE_ANONYMOUS: allow, token-only (no Stream write for anonymous users) or deny. */
  anonymous: AnonymousPolicy;
}

/**
 * Who may be served, before anything is issued or written: a uid Stream can
 * use, not an anonymous user the app refuses, a tenant this deployment
 * serves, an account that is not disabled or revoked (FIREBASE_CHECK_REVOKED),
 * and, with a registry, the tenant the uid is bound to (a uid never crosses
 * tenants) and whether it was deleted. The token service asks it first on
 * every route.
 */
export class Admission {
  readonly #policy: AdmissionPolicy;
  readonly #registry: UserRegistry | undefined;
  readonly #accountStatus: AccountStatusCheck | undefined;
  readonly #knownTenants = new Map<string, string>();

  constructor(policy: AdmissionPolicy, registry?: UserRegistry, accountStatus?: AccountStatusCheck) {
    this.#policy = policy;
    this.#registry = registry;
    this.#accountStatus = accountStatus;
  }

  /**
   * The policy every route applies before anything else: a uid Stream can
   * use, a tenant this deployment serves, and (with a registry) the tenant
   * the uid is registered under. `registered: true` records the uid now and
   * refuses a deleted one (the create routes, before Stream has the user).
   */
  async admit(claims: FirebaseClaims, options: { registered?: boolean; accountMayBeGone?: boolean } = {}): Promise<Caller> {
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
    if (!registry) return { uid, tenant };

    if (options.registered) {
      const entry = await this.#record(registry, uid, tenant, 'The user registry is unavailable, so no Stream user was created; try again shortly');
      if (entry.tenant !== tenant) throw tenantMismatch();
      if (entry.state !== 'active') {
        console.error(JSON.stringify({ event: 'deleted_user_returned', state: entry.state }));
        throw new AppError('user_deleted', 'This user was deleted from Firebase and from Stream; Stream cannot create the same user id again');
      }
      return { uid, tenant, written: entry.written };
    }

    // A uid belongs to the tenant it was first registered under, whatever FIREBASE_TENANT_IDS says now (rows
    // imported with a tenant, or kept from an earlier configuration: issue 15). An unknown uid is recorded
    // before anything is issued, so two tenants cannot both be served in the window before it is. Once per
    // uid and isolate; the self-service delete only reads (src/reconcile/self-delete.ts checks the binding).
    if (options.accountMayBeGone) return { uid, tenant };
    let known = this.#knownTenants.get(uid);
    if (known === undefined) {
      const entry = await this.#record(registry, uid, tenant, 'The user registry is unavailable; try again shortly');
      known = entry.tenant;
      if (entry.state !== 'active') console.error(JSON.stringify({ event: 'deleted_user_returned', state: entry.state }));
    }
    if (known !== tenant) throw tenantMismatch();
    return { uid, tenant };
  }

  /** The uid's registry entry, recorded now if new, and its tenant learnt; 503 `registry_unavailable` when D1 fails. */
  async #record(registry: UserRegistry, uid: string, tenant: string, unavailable: string): ReturnType<UserRegistry['recordNow']> {
    let entry;
    try {
      entry = await registry.recordNow(uid, tenant);
    } catch (error) {
      console.error(JSON.stringify({ event: 'registry_write_failed', error: error instanceof Error ? error.message : String(error) }));
      throw new AppError('registry_unavailable', unavailable, { cause: error, headers: { 'Retry-After': '5' } });
    }
    this.#learnTenant(uid, entry.tenant);
    return entry;
  }

  #learnTenant(uid: string, tenant: string): void {
    if (this.#knownTenants.size >= MAX_KNOWN_TENANTS) this.#knownTenants.clear();
    this.#knownTenants.set(uid, tenant);
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

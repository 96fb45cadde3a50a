/**
 * Stream role and teams from Firebase custom claims, so a moderator made in
 * Firebase (`setCustomUserClaims`) is a moderator in Stream.
 *
 * Off unless configured: without STREAM_ROLE_CLAIM / STREAM_TEAMS_CLAIM the
 * user's role and teams are never touched. A role outside the allow-list
 * (STREAM_ALLOWED_ROLES) is never applied, whatever the token says: a claim
 * is only as trustworthy as whoever can set it, and `admin` in Stream can do
 * anything. A claim that is absent leaves the field as it is in Stream.
 *
 * @module
 */
import type { FirebaseClaims } from '../firebase/verify-id-token';

export interface AccessPolicy {
  /** The custom claim holding the Stream role, e.g. `stream_role`. */
  roleClaim?: string;
  /** Roles that claim may grant. */
  allowedRoles: ReadonlySet<string>;
  /** The custom claim holding an array of Stream team names. */
  teamsClaim?: string;
}

export interface StreamAccess {
  role?: string;
  teams?: string[];
}

const MAX_TEAMS = 100;
const TEAM = /^[A-Za-z0-9@_:.-]{1,100}$/;

/** The role and teams to write, and why any claim was left out (for the log; never a token). */
export function accessFromClaims(claims: FirebaseClaims, policy: AccessPolicy): { access: StreamAccess; refused: string[] } {
  const access: StreamAccess = {};
  const refused: string[] = [];
  if (policy.roleClaim !== undefined && claims[policy.roleClaim] !== undefined) {
    const role = claims[policy.roleClaim];
    if (typeof role === 'string' && policy.allowedRoles.has(role)) access.role = role;
    else
      refused.push(typeof role === 'string' ? `role "${role.slice(0, 64)}" is not in STREAM_ALLOWED_ROLES` : 'role claim is not a string');
  }
  if (policy.teamsClaim !== undefined && claims[policy.teamsClaim] !== undefined) {
    const teams = claims[policy.teamsClaim];
    if (Array.isArray(teams) && teams.length <= MAX_TEAMS && teams.every((team) => typeof team === 'string' && TEAM.test(team))) {
      access.teams = [...new Set(teams as string[])];
    } else {
      refused.push(`teams claim is not an array of at most ${MAX_TEAMS} team names`);
    }
  }
  return { access, refused };
}

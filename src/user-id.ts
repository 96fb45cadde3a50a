/**
 * The one rule for user ids, shared by every module that takes a uid (and the
 * rule for the Identity Platform tenant ids they may belong to).
 *
 * A Firebase uid is at most 128 characters of any kind (custom-token uids);
 * Stream accepts ASCII letters, digits, `@`, `_` and `-`, up to 255. This
 * service serves uids that satisfy both.
 */
export const MAX_FIREBASE_UID_LENGTH = 128;

const STREAM_USER_ID = /^[A-Za-z0-9@_-]{1,255}$/;

/** Stream accepts it as a user id. */
export function isValidStreamUserId(uid: string): boolean {
  return STREAM_USER_ID.test(uid);
}

/** Both a possible Firebase uid and a valid Stream user id: the only uids the registry holds. */
export function isServableUid(uid: unknown): uid is string {
  return typeof uid === 'string' && uid.length <= MAX_FIREBASE_UID_LENGTH && isValidStreamUserId(uid);
}

/** An Identity Platform tenant id: letters, digits and hyphens (the project itself has none: ''). */
export function isTenantId(tenant: string): boolean {
  return /^[A-Za-z0-9-]{1,128}$/.test(tenant);
}

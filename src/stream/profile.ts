/**
 * The Stream profile fields this service owns, read from verified Firebase
 * claims. Firebase's photo claim is `picture` (the original guide read a
 * non-existent `image` claim); `email` is copied only when configured, since
 * Stream user objects are visible to other chat users.
 *
 * @module
 */
import type { FirebaseClaims } from '../firebase/verify-id-token';

/** The Stream user fields this service can own (STREAM_USER_FIELDS). */
export type StreamUserField = 'name' | 'image' | 'email';
export const STREAM_USER_FIELD_NAMES: readonly StreamUserField[] = ['name', 'image', 'email'];

export type StreamProfile = Partial<Record<StreamUserField, string>>;

const CLAIM_FOR_FIELD: Record<StreamUserField, string> = { name: 'name', image: 'picture', email: 'email' };
/** Keeps a user object well under Stream's 5 KB limit whatever the identity provider sends. */
const MAX_FIELD_LENGTH = 1024;

export function profileFromClaims(claims: FirebaseClaims, fields: ReadonlySet<StreamUserField>): StreamProfile {
  const profile: StreamProfile = {};
  for (const field of fields) {
    const value = claims[CLAIM_FOR_FIELD[field]];
    if (typeof value === 'string' && value.trim() !== '') profile[field] = value.trim().slice(0, MAX_FIELD_LENGTH);
  }
  return profile;
}

import type { StreamAccess } from './access';
import { StreamApiError } from './errors';
import type { StreamProfile, StreamUserField } from './profile';
import type { StreamRestClient } from './rest-client';

/**
 * Creates the Stream user or updates the fields this service owns, keeping
 * every other field (role, teams, custom data).
 *
 * Stream's upsert replaces the whole user, so an existing user is only ever
 * touched with a partial update. Only when Stream says the user does not
 * exist, and a query (deactivated users included) confirms it, is the user
 * created with an upsert; any other failure is a failure (`stream_failed`).
 */
export async function syncStreamUser(
  client: StreamRestClient,
  uid: string,
  profile: StreamProfile,
  ownedFields: ReadonlySet<StreamUserField>,
  access: StreamAccess = {},
): Promise<'updated' | 'created'> {
  // Role and teams only when the claims gave them (src/stream/access.ts); never unset.
  const set: Record<string, unknown> = { ...profile, ...access };
  // A field we own that the claims no longer carry (a removed photo) is cleared.
  const unset = [...ownedFields].filter((field) => profile[field] === undefined);

  try {
    const result = await client.partialUpdateUsers([{ id: uid, set, ...(unset.length > 0 ? { unset } : {}) }]);
    if (result.users && result.users[uid]) return 'updated';
    // A success that does not name the user: not proof of anything, so ask below.
  } catch (error) {
    // Only Stream's own "this user does not exist" may lead to creating the user: any other
    // failure is reported as it is, never answered by replacing the user (role, teams, custom data).
    if (!(error instanceof StreamApiError) || !saysUserIsMissing(error)) throw error;
  }

  // Deactivated users count as existing: they must never be replaced either.
  const existing = await client.queryUsers({ id: { $eq: uid } }, { limit: 1, include_deactivated_users: true });
  if (existing.users.some((user) => user.id === uid)) {
    throw new StreamApiError('partialUpdateUsers', 200, { message: 'the user exists but the update did not apply; not replacing it' });
  }
  await client.upsertUsers([{ id: uid, ...set }]);
  return 'created';
}

/** Stream's own "does not exist": code 16 (or a 404 with Stream's error body), or a 400 saying so. */
function saysUserIsMissing(error: StreamApiError): boolean {
  if (error.isNotFound) return true;
  return error.status === 400 && /does ?n[o']t exist|not found/i.test(error.streamMessage ?? '');
}

import { StreamApiError } from './errors';
import type { StreamProfile, StreamUserField } from './profile';
import type { StreamRestClient } from './rest-client';

/**
 * Creates the Stream user or updates the fields this service owns, keeping
 * every other field (role, teams, custom data).
 *
 * Stream's upsert replaces the whole user, so an existing user is only ever
 * touched with a partial update. Only when Stream says the user does not
 * exist, and a query confirms it, is the user created with an upsert.
 */
export async function syncStreamUser(
  client: StreamRestClient,
  uid: string,
  profile: StreamProfile,
  ownedFields: ReadonlySet<StreamUserField>,
): Promise<'updated' | 'created'> {
  const set: Record<string, string> = { ...profile };
  // A field we own that the claims no longer carry (a removed photo) is cleared.
  const unset = [...ownedFields].filter((field) => profile[field] === undefined);

  let updateError: StreamApiError | undefined;
  try {
    const result = await client.partialUpdateUsers([{ id: uid, set, ...(unset.length > 0 ? { unset } : {}) }]);
    if (result.users && result.users[uid]) return 'updated';
  } catch (error) {
    // 400 and 404 are how Stream may answer an update of a user it does not have.
    if (!(error instanceof StreamApiError) || (error.status !== 404 && error.status !== 400 && error.code !== 16)) throw error;
    updateError = error;
  }

  const existing = await client.queryUsers({ id: { $eq: uid } }, { limit: 1 });
  if (existing.users.some((user) => user.id === uid)) {
    // The user exists, so the update failed for another reason: report that, never replace the user.
    throw updateError ?? new StreamApiError('partialUpdateUsers', 200, { message: 'user missing from update response' });
  }
  await client.upsertUsers([{ id: uid, ...set }]);
  return 'created';
}

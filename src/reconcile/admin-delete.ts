import type { ScopedUid } from '../registry/registry';
import { checkUids } from './checker';
import { deleteClaimed, newClaim, recheckPending, type DeleteOutcome } from './deleter';
import type { ReconcileDeps } from './types';

/** What the admin fast path answers for each uid it was given. */
export type AdminDeleteResult =
  | DeleteOutcome
  | 'present'
  | 'not_registered'
  | 'already_deleted'
  /** Firebase says gone, but it does not see the users known to exist either (the brake): nothing done. */
  | 'unconfirmed'
  | 'would_delete';

/**
 * The fast path for backends that delete Firebase users themselves: every
 * uid Firebase confirms gone is deleted from Stream in this request, however
 * many of the request that is. What protects it from a wrong configuration is
 * not the share missing but the witnesses (src/reconcile/checker.ts): Firebase
 * must see users of the same tenant known to exist. Unregistered uids and
 * uids already deleted are reported, not touched. Throws FirebaseLookupError,
 * having deleted nothing, when Firebase cannot say.
 */
export async function deleteConfirmedGone(
  uids: string[],
  deps: ReconcileDeps,
  source: 'admin' | 'event' = 'admin',
): Promise<Record<string, AdminDeleteResult>> {
  const registered = await deps.registry.lookup(uids);
  const results: Record<string, AdminDeleteResult> = {};
  const toCheck: ScopedUid[] = [];
  const alreadyPending: string[] = [];
  for (const uid of uids) {
    const entry = registered.get(uid);
    if (entry === undefined) results[uid] = 'not_registered';
    else if (entry.state === 'deleted') results[uid] = 'already_deleted';
    else if (entry.state === 'pending_delete') alreadyPending.push(uid);
    else toCheck.push({ uid, tenant: entry.tenant });
  }
  const checked = toCheck.length > 0 ? await checkUids(toCheck, deps, source) : { present: [], missing: [], braked: [] };
  for (const uid of checked.present) results[uid] = 'present';
  // Confirmed gone earlier: still gone now? (An account can be recreated with the same uid.)
  const stillPending =
    alreadyPending.length > 0
      ? await recheckPending(
          alreadyPending.map((uid) => ({ uid, tenant: registered.get(uid)!.tenant })),
          deps,
        )
      : [];
  for (const uid of alreadyPending) if (!stillPending.includes(uid)) results[uid] = 'present';
  for (const uid of checked.braked) results[uid] = 'unconfirmed';
  const toDelete = [...checked.missing, ...stillPending];
  if (deps.settings.dryRun) {
    for (const uid of toDelete) results[uid] = 'would_delete';
    return results;
  }
  const claim = newClaim(deps.now());
  const claimed = await deps.registry.claimNow(toDelete, claim);
  // Uids another run is deleting right now: reported as such.
  for (const uid of toDelete) results[uid] = 'deleting';
  if (claimed.length > 0) {
    for (const [uid, outcome] of await deleteClaimed(claimed, claim, deps, source)) results[uid] = outcome;
  }
  return results;
}

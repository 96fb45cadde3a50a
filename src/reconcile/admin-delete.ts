import { checkAndDelete, type ReconcileDeps, type UidOutcome } from './reconcile';

/** What the admin fast path answers for each uid it was given. */
export type AdminDeleteResult = UidOutcome | 'not_registered' | 'already_deleted';

/**
 * The fast path for backends that delete Firebase users themselves: each uid
 * is deleted from Stream only if it is registered and Firebase confirms it is
 * gone. Unregistered uids and uids already deleted are reported, not touched.
 * Throws FirebaseLookupError or ReconcileBrakeError, having deleted nothing,
 * when Firebase cannot say.
 */
export async function deleteConfirmedGone(uids: string[], deps: ReconcileDeps): Promise<Record<string, AdminDeleteResult>> {
  const registered = await deps.registry.lookup(uids);
  const results: Record<string, AdminDeleteResult> = {};
  const candidates: string[] = [];
  for (const uid of uids) {
    const state = registered.get(uid);
    if (state === undefined) results[uid] = 'not_registered';
    else if (state === 'deleted') results[uid] = 'already_deleted';
    else candidates.push(uid);
  }
  // The same per-run delete budget as the cron keeps one request within Workers' subrequest limit.
  const outcomes = await checkAndDelete(candidates, deps, 'admin', deps.settings.maxDeletes);
  for (const [uid, outcome] of outcomes) results[uid] = outcome;
  return results;
}

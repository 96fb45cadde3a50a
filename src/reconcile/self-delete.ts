import { tenantMismatch } from '../admission';
import { checkUids } from './checker';
import { deleteClaimed, newClaim, recheckPending } from './deleter';
import type { SelfDeleteAnswer } from './self-delete-answer';
import type { RegisteredUser } from '../registry/registry';
import type { ReconcileDeps } from './types';

export type { SelfDeleteAnswer };

/**
 * The self-service path: the app calls it right after deleting the Firebase
 * account, with the ID token it still holds. Firebase is asked at once (in
 * the uid's tenant); if the account is gone, the Stream user is deleted in
 * this request. If the account still exists, nothing is deleted and the uid
 * is checked first by the next run. The witnesses guard this path as they
 * guard the admin one: a valid token of a living user cannot make a
 * misconfigured Worker delete it.
 */
export async function deleteSelf(uid: string, tenant: string, deps: ReconcileDeps): Promise<SelfDeleteAnswer> {
  const entry = await deps.registry.get(uid);
  if (entry === undefined) return { deleted: false, reason: 'not_registered' };
  if (entry.tenant !== tenant) throw tenantMismatch();
  return deleteRegistered(entry, deps, 'self');
}

/**
 * The rules once the registry's entry is known, shared with the deletion
 * events route (src/reconcile/event-delete.ts): Firebase is asked in the
 * entry's tenant, the witnesses apply, and a uid confirmed gone is deleted
 * from Stream now. An entry already deleted, or claimed by another run, is
 * not sent to Stream again.
 */
export async function deleteRegistered(entry: RegisteredUser, deps: ReconcileDeps, source: 'self' | 'event'): Promise<SelfDeleteAnswer> {
  const { registry } = deps;
  const { uid } = entry;
  if (entry.state === 'deleted') return { deleted: true, completed: true };
  if (entry.state === 'active') {
    const checked = await checkUids([{ uid, tenant: entry.tenant }], deps, source);
    if (checked.present.length > 0) {
      await registry.markRecheck(uid);
      return { deleted: false, reason: 'firebase_account_exists' };
    }
    if (checked.braked.length > 0) {
      await registry.markRecheck(uid);
      return { deleted: false, reason: 'unconfirmed' };
    }
  }
  if (entry.state === 'pending_delete' && (await recheckPending([{ uid, tenant: entry.tenant }], deps)).length === 0) {
    return { deleted: false, reason: 'firebase_account_exists' }; // recreated with the same uid: active again
  }
  if (deps.settings.dryRun) return { deleted: false, reason: 'dry_run' };
  const claim = newClaim(deps.now());
  const claimed = await registry.claimNow([uid], claim);
  if (claimed.length === 0) return { deleted: true, completed: false }; // another run is deleting it right now
  const outcome = (await deleteClaimed(claimed, claim, deps, source)).get(uid);
  if (outcome === 'deleted' || outcome === 'already_gone') return { deleted: true, completed: true };
  if (outcome === 'deleting') return { deleted: true, completed: false };
  return { deleted: false, reason: 'failed' };
}

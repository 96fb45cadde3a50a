import { deleteConfirmedGone, type AdminDeleteResult } from './admin-delete';
import { deleteRegistered, type SelfDeleteAnswer } from './self-delete';
import type { ReconcileDeps } from './types';

/**
 * @module event-delete
 *
 * What a deletion event (src/http/events.ts) does with the uids it names:
 * the self-service path's rules, unchanged. The event is never trusted
 * alone: each uid must be registered, Firebase is asked in the uid's tenant,
 * the brake's witnesses apply, and a uid confirmed gone is deleted from
 * Stream in this request. An event naming one uid (every forwarded message,
 * every single delete) takes the self-service path itself; a batch delete's
 * entry (up to 1,000 uids) goes 100 at a time through the admin path, whose
 * rules are the same, so its cost is one lookup per 100 uids, not per uid.
 *
 * Redelivery costs no second Stream delete: a uid already deleted, or
 * claimed by a run deleting it now, is not sent again.
 */
export type EventOutcome =
  | 'deleted'
  /** Stream's task is still running; the next cron run resumes it. */
  | 'deleting'
  | 'not_registered'
  /** Registered under another tenant: the event is about another account with the same uid. */
  | 'other_tenant'
  | 'firebase_account_exists'
  /** The brake held it (Firebase sees none of the users known to exist); the next run checks it first. */
  | 'unconfirmed'
  | 'dry_run'
  /** Stream did not delete it: the push is answered 5xx and redelivered. */
  | 'failed';

const CHUNK = 100;

/**
 * Each uid's outcome. `tenant` undefined: the event did not say, and the
 * registry's tenant is the one asked. Throws FirebaseLookupError (nothing
 * deleted for the uids not yet handled) or a D1 error, for a redelivery.
 */
export async function deleteOnEvent(
  uids: string[],
  tenant: string | undefined,
  deps: ReconcileDeps,
): Promise<Record<string, EventOutcome>> {
  if (uids.length === 1) {
    const uid = uids[0]!;
    const entry = await deps.registry.get(uid);
    if (entry === undefined) return { [uid]: 'not_registered' };
    if (tenant !== undefined && entry.tenant !== tenant) return { [uid]: 'other_tenant' };
    return { [uid]: fromSelf(await deleteRegistered(entry, deps, 'event')) };
  }
  const results: Record<string, EventOutcome> = {};
  for (let start = 0; start < uids.length; start += CHUNK) {
    const chunk = uids.slice(start, start + CHUNK);
    let ours = chunk;
    if (tenant !== undefined) {
      const registered = await deps.registry.lookup(chunk);
      ours = chunk.filter((uid) => {
        const other = registered.has(uid) && registered.get(uid)!.tenant !== tenant;
        if (other) results[uid] = 'other_tenant';
        return !other;
      });
    }
    if (ours.length === 0) continue;
    for (const [uid, result] of Object.entries(await deleteConfirmedGone(ours, deps, 'event'))) results[uid] = fromAdmin(result);
  }
  return results;
}

function fromSelf(answer: SelfDeleteAnswer): EventOutcome {
  if (answer.deleted) return answer.completed ? 'deleted' : 'deleting';
  return answer.reason;
}

function fromAdmin(result: AdminDeleteResult): EventOutcome {
  switch (result) {
    case 'deleted':
    case 'already_gone':
    case 'already_deleted':
      return 'deleted';
    case 'present':
      return 'firebase_account_exists';
    case 'would_delete':
      return 'dry_run';
    default:
      return result;
  }
}

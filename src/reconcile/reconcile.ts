import { FirebaseLookupError, type FirebaseAdminClient } from '../firebase/admin-api';
import type { UserRegistry } from '../registry/registry';
import { StreamApiError } from '../stream/errors';
import type { StreamRestClient } from '../stream/rest-client';
import type { DeleteMode } from './delete-mode';

/**
 * Deleted Firebase users are deleted from Stream.
 *
 * Rules, in order of importance:
 * 1. Never delete on doubt: a uid is gone only when a successful, well-formed
 *    Firebase answer does not list it. A failed lookup leaves the whole batch
 *    untouched for a later run.
 * 2. Only registered uids (users this service provisioned or an operator
 *    imported) are ever deleted.
 * 3. Every outcome is recorded per uid as soon as it happens, so an
 *    interrupted run loses nothing, and repeating a delete is harmless
 *    (Stream's 404 is recorded as "already gone").
 */
export interface ReconcileSettings {
  /** uids per Firebase lookup (≤ 100). */
  batchSize: number;
  /** Lookups per run. */
  maxBatches: number;
  /** Stream deletes per run; the rest wait for the next run. */
  maxDeletes: number;
  dryRun: boolean;
  deleteMode: DeleteMode;
  /** Pause between Stream deletes: Stream allows about 1 delete-user call per second per app by default. */
  deleteIntervalMs: number;
  /**
   * The brake: when more than this share of a lookup batch (of 10 or more
   * uids) is missing from Firebase, nothing in that batch is deleted. A
   * wrong FIREBASE_PROJECT_ID or an emptied emulator looks exactly like
   * "everyone was deleted"; this stops it from emptying Stream.
   */
  maxMissingPercent: number;
}

/** Batches smaller than this are too small for the brake's percentage to mean anything. */
export const BRAKE_MIN_BATCH = 10;

export class ReconcileBrakeError extends Error {
  override readonly name = 'ReconcileBrakeError';
  readonly code = 'reconcile_brake';
}

export interface ReconcileDeps {
  registry: UserRegistry;
  firebase: FirebaseAdminClient;
  stream: StreamRestClient;
  settings: ReconcileSettings;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Reconciliation, as the composition root built it: on with its dependencies, or off and why. */
export type Reconciliation = { on: true; deps: ReconcileDeps } | { on: false; reason: string };

export type UidOutcome = 'present' | 'deleted' | 'already_gone' | 'failed' | 'would_delete' | 'deferred';

export interface ReconcileSummary {
  checked: number;
  present: number;
  deleted: number;
  already_gone: number;
  failed: number;
  /** uids whose lookup failed: nothing was done to them. */
  unknown: number;
  would_delete: number;
  deferred: number;
  batches: number;
  dry_run: boolean;
  duration_ms: number;
  error?: string;
}

/**
 * One cron run: a bounded number of batches of the uids checked longest ago.
 * Returns the summary (also logged); `summary.error` is set when the run
 * stopped on a failure, which the scheduled handler then reports as a failed run.
 */
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileSummary> {
  const now = deps.now ?? Date.now;
  const startedAt = now();
  const { settings } = deps;
  const summary: ReconcileSummary = {
    checked: 0,
    present: 0,
    deleted: 0,
    already_gone: 0,
    failed: 0,
    unknown: 0,
    would_delete: 0,
    deferred: 0,
    batches: 0,
    dry_run: settings.dryRun,
    duration_ms: 0,
  };
  try {
    for (let batch = 0; batch < settings.maxBatches; batch++) {
      const uids = await deps.registry.due(settings.batchSize, startedAt);
      if (uids.length === 0) break;
      summary.batches++;
      let outcomes: Map<string, UidOutcome>;
      try {
        outcomes = await checkAndDelete(uids, deps, 'cron', settings.maxDeletes - summary.deleted - summary.failed);
      } catch (error) {
        if (!(error instanceof FirebaseLookupError) && !(error instanceof ReconcileBrakeError)) throw error;
        // Firebase could not say, or said something implausible: nothing is deleted, the batch is retried on a later run.
        summary.unknown += uids.length;
        summary.error = error.message;
        break;
      }
      summary.checked += uids.length;
      for (const outcome of outcomes.values()) summary[outcome]++;
      if (summary.deferred > 0) break; // the delete budget is spent
    }
  } catch (error) {
    summary.error = error instanceof Error ? error.message : String(error);
  }
  summary.duration_ms = now() - startedAt;
  const log = summary.error ? console.error : console.log;
  log(JSON.stringify({ event: 'reconcile_summary', ...summary }));
  return summary;
}

/**
 * Asks Firebase about `uids` (all registered, at most 100) and deletes from
 * Stream those it no longer has, up to `deleteBudget` deletes. Throws
 * FirebaseLookupError, having done nothing, when Firebase cannot say.
 */
export async function checkAndDelete(
  uids: string[],
  deps: ReconcileDeps,
  source: 'cron' | 'admin',
  deleteBudget: number,
): Promise<Map<string, UidOutcome>> {
  const { registry, stream, settings } = deps;
  const existing = await deps.firebase.existing(uids);
  const missingCount = uids.length - uids.filter((uid) => existing.has(uid)).length;
  if (uids.length >= BRAKE_MIN_BATCH && missingCount * 100 > uids.length * settings.maxMissingPercent) {
    throw new ReconcileBrakeError(
      `brake: ${missingCount} of ${uids.length} uids in one batch are missing from Firebase (limit ${settings.maxMissingPercent}%); ` +
        'nothing was deleted. Check FIREBASE_PROJECT_ID and the service account; if this is real, raise RECONCILE_MAX_MISSING_PERCENT',
    );
  }
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const outcomes = new Map<string, UidOutcome>();
  const present = uids.filter((uid) => existing.has(uid));
  await registry.markPresent(present);
  for (const uid of present) outcomes.set(uid, 'present');

  let deletes = 0;
  for (const uid of uids.filter((candidate) => !existing.has(candidate))) {
    if (settings.dryRun) {
      console.log(JSON.stringify({ event: 'reconcile_would_delete', uid, mode: settings.deleteMode.label, source }));
      await registry.markChecked(uid);
      outcomes.set(uid, 'would_delete');
      continue;
    }
    if (deletes >= deleteBudget) {
      outcomes.set(uid, 'deferred'); // left as it was: first in line next run
      continue;
    }
    if (deletes > 0 && settings.deleteIntervalMs > 0) await sleep(settings.deleteIntervalMs);
    deletes++;
    try {
      await stream.deleteUser(uid, settings.deleteMode.flags);
      await registry.markDeleted(uid, `${source}:${settings.deleteMode.label}`);
      outcomes.set(uid, 'deleted');
    } catch (error) {
      if (error instanceof StreamApiError && error.isNotFound) {
        await registry.markDeleted(uid, `${source}:already_gone`);
        outcomes.set(uid, 'already_gone');
      } else if (error instanceof StreamApiError) {
        await registry.markDeleteFailed(uid, error.message);
        outcomes.set(uid, 'failed');
      } else {
        throw error;
      }
    }
  }
  return outcomes;
}

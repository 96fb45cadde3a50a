import type { FirebaseAdminClient } from '../firebase/admin-api';
import type { Meter } from '../platform/meter';
import type { UserRegistry } from '../registry/registry';
import type { StreamRestClient } from '../stream/rest-client';
import type { DeleteMode } from './delete-mode';
import type { Sleep } from '../platform/io';

export interface ReconcileSettings {
  /** uids per Firebase lookup (≤ 100). */
  batchSize: number;
  /** Lookups per inline run. */
  maxBatches: number;
  /** User ids sent to Stream's delete per run (already-gone ones included); the rest wait for the next run. */
  maxDeletes: number;
  dryRun: boolean;
  deleteMode: DeleteMode;
  /** Pause between Stream delete requests. */
  deleteIntervalMs: number;
  /** A cron lookup batch newly finding more than this share missing is logged (`reconcile_mass_missing`); the witnesses are asked whatever the share. */
  maxMissingPercent: number;
  /** How long one run waits for a Stream delete task before leaving it to the next run. */
  taskWaitMs: number;
  /** Queue mode: lookup batches the cron enqueues per run. */
  queueBatchesPerRun: number;
}

/** Backoff of a failed Stream delete: doubles per failure from 1 minute, at most a day. */
export const DELETE_BACKOFF = { baseMs: 60_000, maxMs: 24 * 3600_000 };

/** One queue message: a lookup batch (uids with their tenants). */
export interface ReconcileMessage {
  kind: 'check';
  uids: { uid: string; tenant: string }[];
}

export interface ReconcileDeps {
  registry: UserRegistry;
  firebase: FirebaseAdminClient;
  stream: StreamRestClient;
  settings: ReconcileSettings;
  /** Queue mode when set: the cron pages through the registry and enqueues; a consumer checks and deletes. */
  queue?: Queue<ReconcileMessage>;
  /** Counts D1 rows and subrequests, so each run reports its cost. */
  meter?: Meter;
  /** The clock (Date.now; a test's own). */
  now: () => number;
  sleep?: Sleep;
}

/** Reconciliation, as the composition root built it: on with its dependencies, or off and why. */
export type Reconciliation = { on: true; deps: ReconcileDeps } | { on: false; reason: string };

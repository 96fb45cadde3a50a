import type { Meter, MeterReading } from '../platform/meter';
import type { CheckResult } from './checker';

/** What one reconciliation run (cron, or one queue consumer invocation) did: logged, and stored for the status route. */
export interface ReconcileSummary {
  mode: 'inline' | 'queue' | 'consumer';
  started_at: number;
  /** uids Firebase was asked about. */
  checked: number;
  present: number;
  /** Newly confirmed gone from Firebase (now pending deletion). */
  missing: number;
  /** Newly found missing but not trusted: the brake held them (nothing done to them). */
  braked: number;
  /** uids whose lookup failed: nothing was done to them. */
  unknown: number;
  /** User ids sent to Stream's delete (the budget counts these). */
  sent: number;
  deleted: number;
  already_gone: number;
  failed: number;
  /** Still in a Stream task when the run ended: resumed by the next run. */
  in_task: number;
  /** Pending deletions whose Firebase account exists again (recreated with the same uid): active again, not deleted. */
  revived: number;
  /** Due deletions left for the next run (budget, or Stream's rate limit). */
  deferred: number;
  would_delete: number;
  /** Queue mode: uids enqueued for the consumer. */
  enqueued: number;
  batches: number;
  sweep_completed: boolean;
  dry_run: boolean;
  duration_ms: number;
  /** What the run cost: D1 statements and rows (what D1 bills), outbound fetches, queue sends. */
  d1_queries: number;
  d1_rows_read: number;
  d1_rows_written: number;
  fetches: number;
  queue_sends: number;
  error?: string;
}

/** Adds one checked lookup batch (src/reconcile/checker.ts) to the summary. */
export function addCheck(summary: ReconcileSummary, checked: number, result: CheckResult): void {
  summary.checked += checked;
  summary.present += result.present.length;
  if (summary.dry_run) summary.would_delete += result.missing.length;
  else summary.missing += result.missing.length;
  summary.braked += result.braked.length;
  if (result.braked.length > 0) summary.error ??= result.brakeReason;
}

/** Adds what the meter counted since `start` to the summary. */
export function addCost(summary: ReconcileSummary, meter: Meter | undefined, start: MeterReading | undefined): void {
  if (!meter || !start) return;
  Object.assign(summary, meter.since(start));
}

export function emptySummary(dryRun: boolean, mode: ReconcileSummary['mode'], startedAt: number): ReconcileSummary {
  return {
    mode,
    started_at: startedAt,
    checked: 0,
    present: 0,
    missing: 0,
    braked: 0,
    unknown: 0,
    sent: 0,
    deleted: 0,
    already_gone: 0,
    revived: 0,
    failed: 0,
    in_task: 0,
    deferred: 0,
    would_delete: 0,
    enqueued: 0,
    batches: 0,
    sweep_completed: false,
    dry_run: dryRun,
    duration_ms: 0,
    d1_queries: 0,
    d1_rows_read: 0,
    d1_rows_written: 0,
    fetches: 0,
    queue_sends: 0,
  };
}

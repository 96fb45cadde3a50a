import type { ReconcileDeps } from './types';

/**
 * GET /v1/admin/reconcile/status: what an operator needs to see that
 * deletion works: the registry by state, the oldest pending deletions with
 * their last error, the last run's summary, and where the sweep is. Counting
 * reads the whole registry once per call: it is for people, not the cron.
 */
export async function reconcileStatus(deps: ReconcileDeps) {
  const now = deps.now();
  const { registry } = deps;
  const [counts, oldestPending, sweep] = await Promise.all([registry.countsByState(), registry.oldestPending(10), registry.sweepState()]);
  let projectedCompletion: string | null = null;
  if (sweep.sweepStartedAt !== null && sweep.sweepTotal !== null && sweep.sweepDone > 0) {
    const perUidMs = (now - sweep.sweepStartedAt) / sweep.sweepDone;
    const left = Math.max(0, sweep.sweepTotal - sweep.sweepDone);
    projectedCompletion = new Date(now + left * perUidMs).toISOString();
  }
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    mode: deps.queue ? 'queue' : 'inline',
    dry_run: deps.settings.dryRun,
    registry: counts,
    oldest_pending: oldestPending.map((row) => ({ ...row, since: iso(row.since) })),
    last_run: sweep.lastRun,
    sweep: {
      position: sweep.cursor,
      done: sweep.sweepDone,
      total: sweep.sweepTotal,
      started_at: iso(sweep.sweepStartedAt),
      projected_completion: projectedCompletion,
      sweeps_completed: sweep.sweepsCompleted,
      last_completed_at: iso(sweep.lastSweepCompletedAt),
      last_duration_ms: sweep.lastSweepDurationMs,
    },
  };
}

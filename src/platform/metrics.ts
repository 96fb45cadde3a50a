/**
 * Metrics through Workers Analytics Engine (the optional `METRICS` binding,
 * `[[analytics_engine_datasets]]` in wrangler.toml): one data point per
 * answer, per Stream call and per reconciliation run. Never a token, uid or
 * email: only route, protocol, status, error code, data centre, Stream
 * operation and counts. Without the binding every method returns at once.
 *
 * Metrics never change an answer: no method throws. Analytics Engine throws
 * past 250 data points in one invocation (a reconciliation run that deletes
 * thousands of users makes that many Stream calls), so each invocation
 * (`invocation()`, opened by every entry point of src/index.ts) writes at
 * most MAX_POINTS_PER_INVOCATION; the last few are kept for the points that
 * sum an invocation up (its answer, the run's totals). What is not written,
 * capped or refused by the dataset, is counted (`dropped`) and logged once
 * per invocation as `metrics_dropped`.
 *
 * Data point layout (the SQL in docs/operations.md reads these columns):
 * - answer:      index1 'answer', blob1 route, blob2 protocol, blob3 error code ('' on success), blob4 colo; double1 HTTP status
 * - stream_call: index1 'stream_call', blob1 operation; double1 HTTP status (0: no answer), double2 X-RateLimit-Remaining (-1 unknown)
 * - reconcile:   index1 'reconcile', blob1 mode; double1 checked, double2 deleted, double3 braked, double4 failed, double5 deferred (the backlog)
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { log } from './log';

/** Below Analytics Engine's 250, with room for whatever else of the invocation writes meanwhile. */
export const MAX_POINTS_PER_INVOCATION = 200;
/** Of those, kept for the summing-up points (answer, reconcile): per-call points stop short of them. */
const RESERVED_FOR_SUMMARIES = 10;

interface InvocationCount {
  written: number;
  dropped: number;
}

export class Metrics {
  readonly #dataset: AnalyticsEngineDataset | undefined;
  readonly #invocations = new AsyncLocalStorage<InvocationCount>();
  #dropped = 0;

  constructor(dataset: AnalyticsEngineDataset | undefined) {
    this.#dataset = dataset;
  }

  get on(): boolean {
    return this.#dataset !== undefined;
  }

  /** Points not written since this isolate started (over the cap, or refused by the dataset). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Runs one invocation (a request, a cron run, a queue batch) with its own count of points, including its background work. */
  invocation<T>(run: () => T): T {
    return this.#invocations.run({ written: 0, dropped: 0 }, run);
  }

  answer(route: string, protocol: string, status: number, code: string, colo: string): void {
    this.#write({ indexes: ['answer'], blobs: [route, protocol, code, colo], doubles: [status] }, MAX_POINTS_PER_INVOCATION);
  }

  streamCall(operation: string, status: number, remaining: number | undefined): void {
    this.#write(
      { indexes: ['stream_call'], blobs: [operation], doubles: [status, remaining ?? -1] },
      MAX_POINTS_PER_INVOCATION - RESERVED_FOR_SUMMARIES,
    );
  }

  /** A uid served while D1 could not record it, and where its registration waits (the queue or this isolate). */
  registryDeferred(how: 'queue' | 'memory'): void {
    this.#dataset?.writeDataPoint({ indexes: ['registry_deferred'], blobs: [how], doubles: [1] });
  }

  reconcileRun(summary: { mode: string; checked: number; deleted: number; braked: number; failed: number; deferred: number }): void {
    this.#write(
      {
        indexes: ['reconcile'],
        blobs: [summary.mode],
        doubles: [summary.checked, summary.deleted, summary.braked, summary.failed, summary.deferred],
      },
      MAX_POINTS_PER_INVOCATION,
    );
  }

  #write(point: AnalyticsEngineDataPoint, limit: number): void {
    if (!this.#dataset) return;
    // Outside an invocation (never in the Worker: every entry point opens one) there is nothing to count against.
    const count = this.#invocations.getStore() ?? { written: 0, dropped: 0 };
    if (count.written >= limit) return this.#drop(count, 'over the per-invocation cap');
    try {
      this.#dataset.writeDataPoint(point);
      count.written++;
    } catch (error) {
      this.#drop(count, error instanceof Error ? `${error.name}: ${error.message}` : 'the dataset threw');
    }
  }

  #drop(count: InvocationCount, reason: string): void {
    this.#dropped++;
    if (count.dropped++ > 0) return;
    try {
      log.error('metrics_dropped', { reason, cap: MAX_POINTS_PER_INVOCATION });
    } catch {
      // Nothing about metrics may throw, logging included.
    }
  }
}

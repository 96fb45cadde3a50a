/**
 * Metrics through Workers Analytics Engine (the optional `METRICS` binding,
 * `[[analytics_engine_datasets]]` in wrangler.toml): one data point per
 * answer, per Stream call and per reconciliation run. Never a token, uid or
 * email: only route, protocol, status, error code, data centre, Stream
 * operation and counts. Without the binding every method returns at once.
 *
 * Data point layout (the SQL in docs/operations.md reads these columns):
 * - answer:      index1 'answer', blob1 route, blob2 protocol, blob3 error code ('' on success), blob4 colo; double1 HTTP status
 * - stream_call: index1 'stream_call', blob1 operation; double1 HTTP status (0: no answer), double2 X-RateLimit-Remaining (-1 unknown)
 * - reconcile:   index1 'reconcile', blob1 mode; double1 checked, double2 deleted, double3 braked, double4 failed, double5 deferred (the backlog)
 */
export class Metrics {
  readonly #dataset: AnalyticsEngineDataset | undefined;

  constructor(dataset: AnalyticsEngineDataset | undefined) {
    this.#dataset = dataset;
  }

  get on(): boolean {
    return this.#dataset !== undefined;
  }

  answer(route: string, protocol: string, status: number, code: string, colo: string): void {
    this.#dataset?.writeDataPoint({ indexes: ['answer'], blobs: [route, protocol, code, colo], doubles: [status] });
  }

  streamCall(operation: string, status: number, remaining: number | undefined): void {
    this.#dataset?.writeDataPoint({ indexes: ['stream_call'], blobs: [operation], doubles: [status, remaining ?? -1] });
  }

  /** A uid served while D1 could not record it, and where its registration waits (the queue or this isolate). */
  registryDeferred(how: 'queue' | 'memory'): void {
    this.#dataset?.writeDataPoint({ indexes: ['registry_deferred'], blobs: [how], doubles: [1] });
  }

  reconcileRun(summary: { mode: string; checked: number; deleted: number; braked: number; failed: number; deferred: number }): void {
    this.#dataset?.writeDataPoint({
      indexes: ['reconcile'],
      blobs: [summary.mode],
      doubles: [summary.checked, summary.deleted, summary.braked, summary.failed, summary.deferred],
    });
  }
}

/**
 * Deleted Firebase users are deleted from Stream.
 *
 * Rules, in order of importance:
 * 1. Never delete on doubt: a uid is gone only when a successful, well-formed
 *    Firebase answer, scoped to the uid's tenant, does not list it, and
 *    Firebase demonstrably sees the users it should (the brake,
 *    src/reconcile/checker.ts). A failed lookup leaves the batch untouched.
 * 2. Only registered uids (users this service provisioned or an operator
 *    imported) are ever deleted.
 * 3. Every outcome is recorded per uid as soon as it happens, so an
 *    interrupted run loses nothing: a deletion Firebase confirmed stays
 *    pending until Stream confirms it, and is retried (soonest due first,
 *    with backoff) until it is done.
 * 4. Flat cost: each run reads O(batch) registry rows (a keyset cursor over
 *    uid, partial indexes), whatever the registry's size.
 *
 * @module
 */
import { FirebaseLookupError } from '../firebase/admin-api';
import type { SweepState } from '../registry/registry';
import { checkUids } from './checker';
import { deleteDue, resumeTasks } from './deleter';
import { addCheck, addCost, emptySummary, type ReconcileSummary } from './summary';
import type { ReconcileDeps, ReconcileMessage } from './types';
import { log, errorText } from '../platform/log';

/**
 * One cron run: resume Stream tasks left by earlier runs, check the uids
 * flagged for a recheck, advance the sweep (inline: up to maxBatches lookups;
 * queue mode: enqueue lookup batches), then send the deletions that are due,
 * within the budget. Returns the summary (also logged and stored for the
 * status route); `summary.error` is set when the run stopped on a failure,
 * which the scheduled handler then reports as a failed run.
 */
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileSummary> {
  const { now } = deps;
  const { settings, registry } = deps;
  const summary = emptySummary(settings.dryRun, deps.queue ? 'queue' : 'inline', now());
  const costFrom = deps.meter?.read();
  let state: SweepState | undefined;
  const confirmed = new Set<string>();
  try {
    state = await registry.sweepState();
    await resumeTasks(deps, summary);

    const rechecks = await registry.rechecks(settings.batchSize);
    if (rechecks.length > 0) await checkBatch(rechecks, deps, summary, confirmed);

    if (state.cursor === '' && state.sweepStartedAt === null) {
      state = { ...state, sweepStartedAt: now(), sweepTotal: await registry.countActive(), sweepDone: 0 };
    }
    if (deps.queue) await enqueueSweep(deps.queue, deps, state, summary);
    else await sweepInline(deps, state, summary, confirmed);

    await deleteDue(deps, summary, settings.maxDeletes - summary.sent, confirmed);
  } catch (error) {
    summary.error ??= errorText(error);
  }
  summary.duration_ms = now() - summary.started_at;
  addCost(summary, deps.meter, costFrom);
  summary.d1_queries++; // the save below
  if (state) {
    try {
      await registry.saveSweepState({ ...state, lastRun: summary });
    } catch (error) {
      summary.error ??= `could not save the sweep position: ${errorText(error)}`;
    }
  }
  (summary.error ? log.error : log.info)('reconcile_summary', { ...summary });
  return summary;
}

/** Checks one lookup batch and adds its outcome to the summary; a failed lookup stops the run (nothing done to the batch). */
async function checkBatch(
  batch: { uid: string; tenant: string }[],
  deps: ReconcileDeps,
  summary: ReconcileSummary,
  confirmed: Set<string>,
): Promise<boolean> {
  summary.batches++;
  try {
    const result = await checkUids(batch, deps, 'cron');
    for (const uid of result.missing) confirmed.add(uid);
    addCheck(summary, batch.length, result);
    return true;
  } catch (error) {
    if (!(error instanceof FirebaseLookupError)) throw error;
    summary.unknown += batch.length;
    summary.error = error.message;
    return false;
  }
}

/** Inline mode: up to maxBatches lookups from the sweep's cursor; a finished sweep starts over on the next run. */
async function sweepInline(deps: ReconcileDeps, state: SweepState, summary: ReconcileSummary, confirmed: Set<string>): Promise<void> {
  for (let batch = 0; batch < deps.settings.maxBatches; batch++) {
    const page = await deps.registry.page(state.cursor, deps.settings.batchSize);
    if (page.length === 0) {
      finishSweep(state, deps.now);
      summary.sweep_completed = true;
      return;
    }
    if (!(await checkBatch(page, deps, summary, confirmed))) return; // the cursor stays: the batch is checked again next run
    state.cursor = page[page.length - 1]!.uid;
    state.sweepDone += page.length;
    if (page.length < deps.settings.batchSize) {
      // A short page is the end of the registry: the sweep is complete now, not one run later.
      finishSweep(state, deps.now);
      summary.sweep_completed = true;
      return;
    }
  }
}

/** Queue mode: pages through the registry and enqueues lookup batches for the consumer (src/reconcile/queue.ts). */
async function enqueueSweep(
  queue: Queue<ReconcileMessage>,
  deps: ReconcileDeps,
  state: SweepState,
  summary: ReconcileSummary,
): Promise<void> {
  const { batchSize, queueBatchesPerRun } = deps.settings;
  let enqueued = 0;
  while (enqueued < queueBatchesPerRun) {
    // Large pages keep D1 queries per run low; 5,000 uids is about 200 KB.
    const requested = Math.min(5_000, (queueBatchesPerRun - enqueued) * batchSize);
    const page = await deps.registry.page(state.cursor, requested);
    if (page.length === 0) {
      finishSweep(state, deps.now);
      summary.sweep_completed = true;
      break;
    }
    const messages: MessageSendRequest<ReconcileMessage>[] = [];
    for (let i = 0; i < page.length; i += batchSize) {
      messages.push({ body: { kind: 'check', uids: page.slice(i, i + batchSize).map(({ uid, tenant }) => ({ uid, tenant })) } });
    }
    for (const batch of sendBatches(messages)) {
      await queue.sendBatch(batch);
      summary.queue_sends++;
    }
    enqueued += messages.length;
    summary.enqueued += page.length;
    state.cursor = page[page.length - 1]!.uid;
    state.sweepDone += page.length;
    if (page.length < requested) {
      finishSweep(state, deps.now); // the end of the registry: complete now, not one run later
      summary.sweep_completed = true;
      break;
    }
  }
}

/** Cloudflare takes at most 100 messages and 256 KB per sendBatch; stay well under both (long uids and tenant ids add up). */
const SEND_BATCH_MAX_MESSAGES = 100;
const SEND_BATCH_MAX_BYTES = 200_000;

export function* sendBatches<T>(messages: MessageSendRequest<T>[]): Generator<MessageSendRequest<T>[]> {
  let batch: MessageSendRequest<T>[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = JSON.stringify(message.body).length + 100; // the body, plus room for the message's own envelope
    if (batch.length > 0 && (batch.length >= SEND_BATCH_MAX_MESSAGES || bytes + size > SEND_BATCH_MAX_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(message);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

function finishSweep(state: SweepState, now: () => number): void {
  const finishedAt = now();
  state.lastSweepCompletedAt = finishedAt;
  state.lastSweepDurationMs = state.sweepStartedAt === null ? null : finishedAt - state.sweepStartedAt;
  state.sweepsCompleted++;
  state.cursor = '';
  state.sweepStartedAt = null;
  state.sweepTotal = null;
  state.sweepDone = 0;
}

/**
 * Deleting from Stream with its current API: `POST /users/delete` with up to
 * 100 ids starts a task (Stream marks the users deleted at once and cleans
 * up in the background), polled with `GET /tasks/{id}`. Each uid's outcome is
 * recorded as it becomes known: deleted, already gone, or failed (tried again
 * after a backoff, so a uid Stream always refuses cannot starve the others).
 * A task still running when the run's wait is over stays recorded on its uids
 * and is resumed by the next run.
 *
 * @module
 */
import { FirebaseLookupError } from '../firebase/admin-api';
import type { ScopedUid } from '../registry/registry';
import { StreamApiError } from '../stream/errors';
import { groupByTenant } from './checker';
import type { StreamTask } from '../stream/rest-client';
import type { ReconcileSummary } from './summary';
import { DELETE_BACKOFF, type ReconcileDeps } from './types';
import { sleep } from '../platform/io';
import { log } from '../platform/log';

export type DeleteOutcome = 'deleted' | 'already_gone' | 'failed' | 'deleting';

/** Stream takes up to 100 user ids per delete request. */
const STREAM_DELETE_MAX_IDS = 100;
const POLL_INTERVAL_MS = 500;
/**
 * A claim older than this was left by an invocation that died (or whose D1
 * write failed) before Stream's task id was recorded: the next cron run, 15
 * minutes later, releases it. No invocation lives this long.
 */
const STALE_CLAIM_MS = 10 * 60_000;

export function newClaim(now: number): string {
  return `claim:${now}:${crypto.randomUUID()}`;
}

/**
 * Sends the deletions that are due, soonest due first, up to `budget` user
 * ids (already-gone ones included), pausing between requests and stopping
 * early when Stream's rate limit for the endpoint is spent. Deletions
 * confirmed earlier than this invocation (`confirmedThisRun`) are asked of
 * Firebase again first (`recheckPending`).
 */
export async function deleteDue(
  deps: ReconcileDeps,
  summary: ReconcileSummary,
  budget: number,
  confirmedThisRun: ReadonlySet<string> = new Set(),
): Promise<void> {
  if (deps.settings.dryRun) return;
  const { now } = deps;
  let requests = 0;
  while (budget > 0) {
    const limit = deps.stream.rateLimit('deleteUsers', now());
    if (limit !== undefined && limit.remaining === 0) break; // Stream's budget for this window is spent
    const claim = newClaim(now());
    const claimed = await deps.registry.claimDueDeletions(Math.min(budget, STREAM_DELETE_MAX_IDS), claim);
    if (claimed.length === 0) return;
    budget -= claimed.length;
    // Confirmed gone by this very invocation: no need to ask again. (Not by time: two runs can share a millisecond.)
    const confirmedNow = claimed.filter((entry) => confirmedThisRun.has(entry.uid));
    const older = claimed.filter((entry) => !confirmedNow.includes(entry));
    let gone: string[];
    try {
      gone = [...confirmedNow.map((entry) => entry.uid), ...(older.length > 0 ? await recheckPending(older, deps) : [])];
    } catch (error) {
      if (!(error instanceof FirebaseLookupError)) throw error;
      await deps.registry.releaseClaim(claim); // nothing sent: due as before
      summary.error ??= `the pending deletions wait for the next run: ${error.message}`;
      break;
    }
    summary.revived += claimed.length - gone.length;
    if (gone.length === 0) continue;
    if (requests > 0 && deps.settings.deleteIntervalMs > 0) await sleepOf(deps)(deps.settings.deleteIntervalMs);
    requests++;
    summary.sent += gone.length;
    const outcomes = await deleteClaimed(gone, claim, deps, 'cron');
    addOutcomes(summary, outcomes);
  }
  // Anything still due waits for the next run (counted up to one request's worth).
  summary.deferred += await deps.registry.countDue(STREAM_DELETE_MAX_IDS);
}

/**
 * Firebase is asked once more, right before Stream's delete, whether pending
 * uids are still gone: a deletion can wait a long time (backoff, Stream's
 * rate limit), and Firebase lets an account be created again with the same
 * uid (the simulation found a recreated user's Stream account deleted, issue
 * 15). Present ones are active again; answers the ones still gone. Throws
 * FirebaseLookupError, having changed nothing, when Firebase cannot say.
 */
export async function recheckPending(entries: ScopedUid[], deps: ReconcileDeps): Promise<string[]> {
  const present = new Set<string>();
  for (const [tenant, uids] of groupByTenant(entries)) for (const uid of await deps.firebase.existing(uids, tenant)) present.add(uid);
  if (present.size > 0) {
    log.warn('deletion_cancelled', { reason: 'the Firebase account exists again', count: present.size });
    await deps.registry.revive([...present]);
  }
  return entries.filter((entry) => !present.has(entry.uid)).map((entry) => entry.uid);
}

/**
 * Deletes claimed uids (≤ 100) from Stream and records each outcome. A
 * failure of the request itself is recorded as a failure of every uid in it.
 * When Stream refuses the request because a user does not exist, the ids it
 * still has are sent once more (`retriedAfterNotFound`); a second refusal
 * is a failure, tried again after the backoff, not a loop.
 */
export async function deleteClaimed(
  uids: string[],
  claim: string,
  deps: ReconcileDeps,
  source: string,
  retriedAfterNotFound = false,
): Promise<Map<string, DeleteOutcome>> {
  const { stream, registry, settings } = deps;
  const outcomes = new Map<string, DeleteOutcome>();
  let taskId: string;
  try {
    taskId = (await stream.deleteUsers(uids, settings.deleteMode.options)).task_id;
    if (typeof taskId !== 'string' || taskId === '') throw new StreamApiError('deleteUsers', 200, { message: 'answer has no task_id' });
  } catch (error) {
    if (!(error instanceof StreamApiError)) throw error;
    if (error.isNotFound && !retriedAfterNotFound) return deleteExisting(uids, claim, deps, source);
    await registry.markDeleteFailed(uids, error.message, DELETE_BACKOFF);
    for (const uid of uids) outcomes.set(uid, 'failed');
    return outcomes;
  }
  await registry.markInTask(claim, taskId);
  return waitForTask(taskId, uids, deps, source, settings.taskWaitMs);
}

/**
 * Stream refused the whole request because a user does not exist: find out
 * which ones still do (one query, deactivated users included: a deactivated
 * user is still a user to delete), record the rest as already
 * gone, and send the existing ones again, once.
 */
async function deleteExisting(uids: string[], claim: string, deps: ReconcileDeps, source: string): Promise<Map<string, DeleteOutcome>> {
  const found = await inStreamNow(uids, deps);
  if (!found) return new Map(uids.map((uid) => [uid, 'failed']));
  const outcomes = new Map<string, DeleteOutcome>();
  const gone = uids.filter((uid) => !found.has(uid));
  for (const [uid, outcome] of await leaveTombstones(gone, deps, source)) outcomes.set(uid, outcome);
  const rest = uids.filter((uid) => found.has(uid));
  if (rest.length === 0) return outcomes;
  for (const [uid, outcome] of await deleteClaimed(rest, claim, deps, source, true)) outcomes.set(uid, outcome);
  return outcomes;
}

/** Polls a task until it ends or `waitMs` passes; records what it says. */
async function waitForTask(
  taskId: string,
  uids: string[],
  deps: ReconcileDeps,
  source: string,
  waitMs: number,
): Promise<Map<string, DeleteOutcome>> {
  const { now } = deps;
  const deadline = now() + waitMs;
  for (;;) {
    let task: StreamTask;
    try {
      task = await deps.stream.getTask(taskId);
    } catch (error) {
      if (!(error instanceof StreamApiError)) throw error;
      if (error.isNotFound) {
        // Stream no longer knows the task: send the uids again (deleting twice is harmless).
        await deps.registry.markDeleteFailed(uids, `task ${taskId} not found`, DELETE_BACKOFF);
        return new Map(uids.map((uid) => [uid, 'failed']));
      }
      return new Map(uids.map((uid) => [uid, 'deleting'])); // ask again next time
    }
    if (task.status === 'completed') return recordTaskResult(task, uids, deps, source);
    if (task.status === 'failed') {
      const reason = `Stream task failed: ${task.error?.description ?? task.error?.type ?? 'no detail'}`.slice(0, 300);
      await deps.registry.markDeleteFailed(uids, reason, DELETE_BACKOFF);
      return new Map(uids.map((uid) => [uid, 'failed']));
    }
    if (now() + POLL_INTERVAL_MS > deadline) return new Map(uids.map((uid) => [uid, 'deleting']));
    await sleepOf(deps)(POLL_INTERVAL_MS);
  }
}

/**
 * A completed task's per-user result. Stream does not document its shape:
 * an entry that says error (or has an `error`) is a failure, unless it says
 * the user does not exist; anything else, or no entry, is done.
 */
async function recordTaskResult(
  task: StreamTask,
  uids: string[],
  deps: ReconcileDeps,
  source: string,
): Promise<Map<string, DeleteOutcome>> {
  const outcomes = new Map<string, DeleteOutcome>();
  const failedWith = new Map<string, string>();
  for (const uid of uids) {
    const entry = task.result?.[uid] as { status?: unknown; error?: unknown; message?: unknown } | undefined;
    const status = typeof entry?.status === 'string' ? entry.status.toLowerCase() : undefined;
    const text = [entry?.error, entry?.message].find((value) => typeof value === 'string') as string | undefined;
    if (status !== 'error' && status !== 'failed' && entry?.error === undefined) outcomes.set(uid, 'deleted');
    else if (text !== undefined && /not[ _-]?found|does not exist|doesn't exist/i.test(text)) outcomes.set(uid, 'already_gone');
    else {
      outcomes.set(uid, 'failed');
      failedWith.set(uid, (text ?? 'Stream reported an error').slice(0, 300));
    }
  }
  const of = (kind: DeleteOutcome) => uids.filter((uid) => outcomes.get(uid) === kind);
  await deps.registry.markDeleted(of('deleted'), `${source}:${deps.settings.deleteMode.label}`);
  for (const [uid, reason] of failedWith) await deps.registry.markDeleteFailed([uid], reason, DELETE_BACKOFF);
  for (const [uid, outcome] of await tombstonesIfStillMissing(of('already_gone'), deps, source)) outcomes.set(uid, outcome);
  return outcomes;
}

/**
 * A task's "not found" may be old news: a client holding a valid token can
 * have created the user since (Stream creates users on connect). Such a user
 * goes back to the deletion queue and is deleted like any other, never
 * overwritten by a tombstone's empty upsert, which would leave it in Stream
 * with a valid token; the others get their tombstone.
 */
async function tombstonesIfStillMissing(uids: string[], deps: ReconcileDeps, source: string): Promise<Map<string, DeleteOutcome>> {
  if (uids.length === 0) return new Map();
  const found = await inStreamNow(uids, deps);
  if (!found) return new Map(uids.map((uid) => [uid, 'failed']));
  const back = uids.filter((uid) => found.has(uid));
  if (back.length > 0) await deps.registry.markDueAgain(back);
  const outcomes = new Map<string, DeleteOutcome>(back.map((uid) => [uid, 'deleting']));
  for (const [uid, outcome] of await leaveTombstones(
    uids.filter((uid) => !found.has(uid)),
    deps,
    source,
  ))
    outcomes.set(uid, outcome);
  return outcomes;
}

/**
 * Which of `uids` Stream has now, deactivated users included (one query).
 * Undefined when Stream fails: every uid is then recorded as failed, tried
 * again after the backoff.
 */
async function inStreamNow(uids: string[], deps: ReconcileDeps): Promise<Set<string> | undefined> {
  try {
    const { users } = await deps.stream.queryUsers(
      { id: { $in: uids } },
      { limit: STREAM_DELETE_MAX_IDS, include_deactivated_users: true },
    );
    return new Set(users.map((user) => user.id));
  } catch (error) {
    if (!(error instanceof StreamApiError)) throw error;
    await deps.registry.markDeleteFailed(uids, error.message, DELETE_BACKOFF);
    return undefined;
  }
}

/**
 * Stream does not have these users. If it never had them (the uid fetched
 * tokens and never connected), a token still valid would create the user on
 * connect, after the registry had recorded it deleted, and nothing would
 * ever delete it. So each is created
 * empty (it does not exist: nothing is overwritten) and goes back to the
 * deletion queue, due now, to be deleted like any user: Stream then keeps
 * its tombstone and refuses every token. One Stream refuses to create as
 * deleted already has that tombstone: it is already gone.
 */
async function leaveTombstones(uids: string[], deps: ReconcileDeps, source: string): Promise<Map<string, DeleteOutcome>> {
  const outcomes = new Map<string, DeleteOutcome>();
  for (const uid of uids) {
    try {
      await deps.stream.upsertUsers([{ id: uid }]);
    } catch (error) {
      if (!(error instanceof StreamApiError)) throw error;
      if (error.isNotFound) {
        await deps.registry.markDeleted([uid], `${source}:already_gone`);
        outcomes.set(uid, 'already_gone');
      } else {
        await deps.registry.markDeleteFailed([uid], error.message, DELETE_BACKOFF);
        outcomes.set(uid, 'failed');
      }
      continue;
    }
    await deps.registry.markDueAgain([uid]);
    outcomes.set(uid, 'deleting');
  }
  return outcomes;
}

/** Tasks (and claims) left by earlier runs: finished now, still running, or abandoned. */
export async function resumeTasks(deps: ReconcileDeps, summary: ReconcileSummary): Promise<void> {
  const { now } = deps;
  const tasks = await deps.registry.openTasks(5 * STREAM_DELETE_MAX_IDS);
  for (const [taskId, uids] of tasks) {
    if (taskId.startsWith('claim:')) {
      const claimedAt = Number(taskId.split(':')[1]);
      if (now() - claimedAt > STALE_CLAIM_MS) {
        await deps.registry.markDeleteFailed(uids, 'interrupted before Stream answered', DELETE_BACKOFF);
        summary.failed += uids.length;
      }
      continue;
    }
    addOutcomes(summary, await waitForTask(taskId, uids, deps, 'cron', 0));
  }
}

function addOutcomes(summary: ReconcileSummary, outcomes: Map<string, DeleteOutcome>): void {
  for (const outcome of outcomes.values()) {
    if (outcome === 'deleting') summary.in_task++;
    else summary[outcome]++;
  }
}

function sleepOf(deps: ReconcileDeps): (ms: number) => Promise<void> {
  return deps.sleep ?? sleep;
}

/**
 * Queue mode's consumer: each message is one lookup batch the cron enqueued.
 * A batch Firebase could not answer is retried by the queue (with a delay;
 * after `max_retries` it goes to the dead-letter queue, and the next sweep
 * enqueues those uids again); a batch the brake held is acknowledged, its
 * uids untouched until the next sweep. Then the deletions that are due are
 * sent, within the per-invocation budget.
 *
 * @module
 */
import { FirebaseLookupError } from '../firebase/admin-api';
import { checkUids } from './checker';
import { deleteDue } from './deleter';
import { addCheck, addCost, emptySummary, type ReconcileSummary } from './summary';
import type { ReconcileDeps, ReconcileMessage } from './types';
import { log, errorText } from '../platform/log';

const LOOKUP_RETRY_DELAY_SECONDS = 60;

export async function consume(batch: MessageBatch<ReconcileMessage>, deps: ReconcileDeps): Promise<ReconcileSummary> {
  const { now } = deps;
  const summary = emptySummary(deps.settings.dryRun, 'consumer', now());
  const costFrom = deps.meter?.read();
  const confirmed = new Set<string>();
  for (const message of batch.messages) {
    const uids = validUids(message.body);
    if (uids === undefined) {
      log.error('reconcile_message_invalid', { id: message.id });
      message.ack(); // retrying a malformed message cannot help
      continue;
    }
    summary.batches++;
    try {
      const result = await checkUids(uids, deps, 'cron');
      for (const uid of result.missing) confirmed.add(uid);
      addCheck(summary, uids.length, result);
      message.ack();
    } catch (error) {
      summary.unknown += uids.length;
      summary.error ??= errorText(error);
      if (error instanceof FirebaseLookupError) message.retry({ delaySeconds: LOOKUP_RETRY_DELAY_SECONDS });
      else message.retry();
    }
  }
  try {
    await deleteDue(deps, summary, deps.settings.maxDeletes, confirmed);
  } catch (error) {
    summary.error ??= errorText(error);
  }
  summary.duration_ms = now() - summary.started_at;
  addCost(summary, deps.meter, costFrom);
  (summary.error ? log.error : log.info)('reconcile_summary', { ...summary });
  return summary;
}

function validUids(body: unknown): { uid: string; tenant: string }[] | undefined {
  const uids = (body as Partial<ReconcileMessage> | null)?.uids;
  if ((body as Partial<ReconcileMessage> | null)?.kind !== 'check' || !Array.isArray(uids) || uids.length === 0 || uids.length > 100)
    return undefined;
  const valid = uids.every((entry) => typeof entry?.uid === 'string' && typeof entry?.tenant === 'string');
  return valid ? uids.map(({ uid, tenant }) => ({ uid, tenant })) : undefined;
}

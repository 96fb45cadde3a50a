/**
 * @module events
 *
 * `POST /v1/events/user-deleted`, a Pub/Sub push endpoint (on only with
 * DELETION_EVENTS_AUDIENCE). Pub/Sub acknowledges a 102, 200, 201, 202 or
 * 204 and redelivers anything else with its backoff (then to the
 * subscription's dead-letter topic), so the answers are chosen for it:
 *
 * - 401, nothing done: no push token, or one that fails any rule of
 *   src/events/push-token.ts.
 * - 400: the body is not a Pub/Sub push envelope (never sent by Pub/Sub: it
 *   ends in the dead-letter topic, where someone can look).
 * - 200: handled, or nothing to do: unknown uid, account still exists,
 *   already deleted, data that names no uid (`deletion_event_unparsed`).
 * - 502/503: Firebase, Stream or D1 could not be asked, or Stream did not
 *   delete; redelivered, and a redelivery never sends a second delete for a
 *   user already deleted.
 */
import { AppError } from '../errors';
import { readDeletionEvent, readPushEnvelope } from '../events/deletion-event';
import { FirebaseLookupError } from '../firebase/admin-api';
import type { Background } from '../platform/io';
import { log } from '../platform/log';
import { deleteOnEvent, type EventOutcome } from '../reconcile/event-delete';
import type { Reconciliation } from '../reconcile/types';
import { StreamApiError } from '../stream/errors';
import { streamFailure } from '../stream/answers';
import { bearerCredentials } from './bearer';
import { json } from './respond';

export interface DeletionEventsDeps {
  /** Verifies the push token (src/events/push-token.ts with the configured rules and key cache). */
  verify: (token: string, background: Background) => Promise<void>;
  reconciliation: Reconciliation;
}

export async function handleDeletionEvent(request: Request, deps: DeletionEventsDeps, background: Background): Promise<Response> {
  const token = bearerCredentials(request.headers.get('Authorization'));
  if (token === undefined)
    throw new AppError('missing_authorization', 'Send the push subscription\'s "Authorization: Bearer <OIDC token>"');
  if (token === null) throw new AppError('invalid_token', 'Authorization must be "Bearer <OIDC token>"');
  await deps.verify(token, background);

  if (!deps.reconciliation.on) {
    // parseConfig refuses the route without D1 or a way to ask Firebase, so this is a guard only. Nothing is
    // lost if it is reached: Pub/Sub keeps the message (and redelivers it).
    throw new AppError('registry_unavailable', `Deletion events need reconciliation, which is off: ${deps.reconciliation.reason}`, {
      headers: { 'Retry-After': '60' },
    });
  }
  const message = readPushEnvelope(await request.text());
  const event = readDeletionEvent(message.data);
  if (event.kind === 'unparsed') {
    // The reason names what was missing; the entry itself (emails, addresses) is never logged.
    log.warn('deletion_event_unparsed', { reason: event.reason, message_id: message.messageId ?? null });
    return json({ acknowledged: true, results: {}, unparsed: event.reason });
  }

  const meter = deps.reconciliation.deps.meter;
  const spentBefore = meter?.read();
  let results: Record<string, EventOutcome>;
  try {
    results = await deleteOnEvent(event.uids, event.tenant, deps.reconciliation.deps);
  } catch (error) {
    if (error instanceof FirebaseLookupError) {
      throw new AppError('firebase_failed', 'Firebase could not say whether the account is gone; nothing was deleted; redeliver', {
        cause: error,
      });
    }
    if (error instanceof StreamApiError) throw streamFailure(error);
    throw error;
  }
  const counts: Partial<Record<EventOutcome, number>> = {};
  for (const outcome of Object.values(results)) counts[outcome] = (counts[outcome] ?? 0) + 1;
  // With its cost (D1 statements and rows, subrequests), like every reconciliation run's summary.
  const cost = meter && spentBefore ? meter.since(spentBefore) : {};
  log.info('deletion_event', { source: event.source, message_id: message.messageId ?? null, uids: event.uids.length, ...counts, ...cost });
  if (counts.failed)
    throw new AppError('stream_failed', 'Stream did not delete every user; the push is to be redelivered', {
      headers: { 'Retry-After': '60' },
    });
  return json({ acknowledged: true, results });
}

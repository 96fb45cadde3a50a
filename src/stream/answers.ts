/**
 * Stream's failures as this service's answers, in one place: its rate limit
 * (the app-wide budget for the minute is spent) is 503 `stream_unavailable`
 * with `Retry-After`, never a token for a user that may not exist; any other
 * failure is 502 `stream_failed`.
 *
 * @module
 */
import { AppError } from '../errors';
import { StreamApiError } from './errors';
import type { StreamRestClient } from './rest-client';
import { StreamBusyError } from './user-writer';

/** Stream's user writes: a sign-up or a revoke waits until the first of their windows that is known resets. */
export const USER_WRITES: readonly string[] = ['upsertUsers', 'partialUpdateUsers', 'queryUsers'];

/**
 * Seconds until Stream's window resets for the first of `operations` whose
 * window is known, from its own `X-RateLimit-Reset`; a minute when it never said.
 */
export function retryAfterSeconds(stream: StreamRestClient | undefined, operations: readonly string[], now?: number): number {
  for (const operation of operations) {
    // Without `now`, the client's own clock says which windows are still open (a fake one in tests).
    const limit = now === undefined ? stream?.rateLimit(operation) : stream?.rateLimit(operation, now);
    if (limit) return Math.max(1, Math.ceil((limit.resetAt - (now ?? Date.now())) / 1000));
  }
  return 60;
}

function streamBusy(retryAfter: number, cause: unknown): AppError {
  return new AppError('stream_unavailable', "Stream's user write budget for this minute is spent; try again shortly", {
    cause,
    headers: { 'Retry-After': String(retryAfter) },
  });
}

export function streamFailure(error: StreamApiError): AppError {
  const detail = error.status === 0 ? 'no response' : `status ${error.status}${error.code === undefined ? '' : `, code ${error.code}`}`;
  return new AppError('stream_failed', `Stream request failed (${detail})`, { cause: error });
}

/** Runs a Stream call and answers its failure as above; anything that is not Stream's passes through. */
export async function answeringStreamFailures<T>(call: () => Promise<T>, stream?: StreamRestClient): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof StreamBusyError) throw streamBusy(error.retryAfterSeconds, error);
    if (error instanceof StreamApiError && error.status === 429) throw streamBusy(retryAfterSeconds(stream, USER_WRITES), error);
    if (error instanceof StreamApiError) throw streamFailure(error);
    throw error;
  }
}

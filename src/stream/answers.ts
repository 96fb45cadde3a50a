import { AppError } from '../errors';
import { StreamApiError } from './errors';
import type { StreamRestClient } from './rest-client';
import { StreamBusyError } from './user-writer';

/**
 * Stream's failures as this service's answers, in one place: its rate limit
 * (the app-wide budget for the minute is spent) is 503 `stream_unavailable`
 * with `Retry-After`, never a token for a user that may not exist; any other
 * failure is 502 `stream_failed`.
 */

/** Stream's user writes: when one of them is limited, a sign-up waits for the first to reset. */
const USER_WRITES = ['upsertUsers', 'partialUpdateUsers', 'queryUsers'];

/**
 * Seconds until Stream's window resets for `operation` (or, failing that, for
 * the user writes), from its own `X-RateLimit-Reset`; a minute when it never said.
 */
export function retryAfterSeconds(stream: StreamRestClient | undefined, operation: string, now: number = Date.now()): number {
  for (const candidate of [operation, ...USER_WRITES]) {
    const limit = stream?.rateLimit(candidate, now);
    if (limit) return Math.max(1, Math.ceil((limit.resetAt - now) / 1000));
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
    if (error instanceof StreamApiError && error.status === 429) throw streamBusy(retryAfterSeconds(stream, error.operation), error);
    if (error instanceof StreamApiError) throw streamFailure(error);
    throw error;
  }
}

/**
 * One place to batch sign-ups from every isolate (the `SIGNUP_BATCHER`
 * Durable Object binding). A burst spread over many isolates would batch
 * poorly in each of them; through this object, every write of the app shares
 * one UserWriter, so Stream sees at most three requests per 100 new users
 * whatever the number of isolates, paced by one view of its rate limit.
 *
 * The caller names the Stream app (base URL and key, from its own
 * configuration); the secret is this object's own (STREAM_API_SECRET), so it
 * never travels. Answers are plain values: errors do not keep their class
 * across RPC, so a busy Stream and a failed request are told apart in the answer.
 *
 * @module
 */
import { DurableObject } from 'cloudflare:workers';
import { retryAfterSeconds } from './answers';
import { StreamApiError } from './errors';
import { StreamRestClient } from './rest-client';
import { StreamTokenSigner } from './tokens';
import { StreamBusyError, UserWriter, type UserWrite, type WritesUsers } from './user-writer';
import { log, errorText } from '../platform/log';

type BatchedWriteAnswer =
  { ok: 'created' | 'updated' } | { busy: number } | { failed: { operation: string; status: number; code?: number; message?: string } };

interface StreamTarget {
  baseUrl: string;
  apiKey: string;
}

interface BatcherEnv {
  STREAM_API_SECRET?: string;
}

export class SignupBatcher extends DurableObject<BatcherEnv> {
  readonly #writers = new Map<string, { stream: StreamRestClient; writer: UserWriter }>();

  async write(target: StreamTarget, write: UserWrite): Promise<BatchedWriteAnswer> {
    const { stream, writer } = this.#writerFor(target);
    try {
      return { ok: await writer.write(write) };
    } catch (error) {
      if (error instanceof StreamBusyError) return { busy: error.retryAfterSeconds };
      if (error instanceof StreamApiError) {
        // Stream's own reset, so callers come back when it has budget again.
        if (error.status === 429) return { busy: retryAfterSeconds(stream, [error.operation]) };
        return { failed: { operation: error.operation, status: error.status, code: error.code, message: error.streamMessage } };
      }
      throw error;
    }
  }

  #writerFor(target: StreamTarget): { stream: StreamRestClient; writer: UserWriter } {
    const key = `${target.baseUrl} ${target.apiKey}`;
    let entry = this.#writers.get(key);
    if (!entry) {
      const secret = this.env.STREAM_API_SECRET;
      if (!secret) throw new Error('SignupBatcher has no STREAM_API_SECRET');
      const stream = new StreamRestClient({
        now: Date.now,
        baseUrl: target.baseUrl,
        apiKey: target.apiKey,
        signer: new StreamTokenSigner(secret),
      });
      // One I/O context for every caller: here writes can share requests (a stateless Worker cannot).
      entry = { stream, writer: new UserWriter({ now: Date.now, stream, windowMs: 50, batching: true }) };
      this.#writers.set(key, entry);
    }
    return entry;
  }
}

/** Writes through the Durable Object, as a UserWriter would; falls back to `local` when the object cannot be reached. */
export class BatcherClient implements WritesUsers {
  readonly #namespace: DurableObjectNamespace<SignupBatcher>;
  readonly #target: StreamTarget;
  readonly #local: WritesUsers;

  constructor(namespace: DurableObjectNamespace<SignupBatcher>, target: StreamTarget, local: WritesUsers) {
    this.#namespace = namespace;
    this.#target = target;
    this.#local = local;
  }

  async write(write: UserWrite): Promise<'created' | 'updated'> {
    let answer: BatchedWriteAnswer;
    try {
      const stub = this.#namespace.get(this.#namespace.idFromName('signups'));
      answer = await stub.write(this.#target, write);
    } catch (error) {
      // The shared primitive is unavailable (overloaded, resetting): this request writes alone (no batching:
      // a stateless Worker cannot share I/O between requests).
      log.warn('signup_batcher_unavailable', { error: errorText(error) });
      return this.#local.write(write);
    }
    if ('ok' in answer) return answer.ok;
    if ('busy' in answer) throw new StreamBusyError(answer.busy);
    const { operation, status, code, message } = answer.failed;
    throw new StreamApiError(operation, status, { code, message });
  }
}

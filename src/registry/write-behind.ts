/**
 * Registry writes that need not hold up an answer, written behind it: fresh
 * evidence of life for returning users (the brake's witnesses need it in
 * hours, not per request), and the registration of uids served while D1 was
 * down.
 *
 * Writes are coalesced per isolate: a flush waits COALESCE_MS before its first
 * statement, and while one statement is on its way to the primary the uids
 * seen meanwhile wait for the next; each goes as one multi-row statement of up
 * to MAX_PER_STATEMENT uids. The wait is after the answer, so it costs no
 * caller anything. The work runs in
 * `ctx.waitUntil` of the request that started it, which the runtime ends at
 * most 30 s after the answer: a flush that outlived it is taken for dead and
 * the next request starts another, so nothing waits on it for ever.
 *
 * A uid served unrecorded (a D1 outage) must reach the registry, or its Stream
 * user would never be reconciled: with a queue bound it is sent there (durable;
 * the consumer records it when D1 answers again), otherwise it stays here and
 * is retried with a backoff until a write succeeds, as long as the isolate lives.
 *
 * @module
 */
import { sleep as realSleep, type Background, type Sleep } from '../platform/io';
import type { SeenUid, UserRegistry } from './registry';
import { log, errorText } from '../platform/log';

/** What the queue carries for a registration D1 could not take at the time. */
export interface RegisterMessage {
  kind: 'register';
  uids: SeenUid[];
  /** Deliveries of the messages this one was sent anew from (for the retry delay). */
  round?: number;
}

/** Uids per statement: json_each over this many stays far below D1's statement size limit. */
const MAX_PER_STATEMENT = 100;
/** Waiting uids per isolate; past it new refreshes are dropped (they are evidence, not duty), registrations never. */
const MAX_WAITING = 10_000;
/** A flush running longer than this belonged to a request the runtime has ended. */
const FLUSH_PRESUMED_DEAD_MS = 35_000;
const RETRY_FIRST_MS = 2_000;
/** How long a flush gathers uids before its first statement. */
const COALESCE_MS = 1_000;
const RETRY_MAX_MS = 60_000;

interface Waiting extends SeenUid {
  /** A registration (served unrecorded), never dropped; else an alive refresh. */
  duty: boolean;
}

interface WriteBehindOptions {
  registry: UserRegistry;
  /** Where registrations go when D1 cannot take them (RECONCILE_QUEUE), if bound. */
  queue?: Queue<RegisterMessage>;
  now: () => number;
  /** The gathering wait before a flush (tests pass a fast one). */
  sleep?: Sleep;
  /** Told of each uid served unrecorded and each registration sent to the queue (metrics, logs). */
  onDeferred?: (how: 'queue' | 'memory') => void;
}

export class RegistryWriteBehind {
  readonly #options: WriteBehindOptions;
  readonly #waiting = new Map<string, Waiting>();
  #flushStartedAt: number | undefined;
  /** The current flush (a later one replaces a flush taken for dead) and the batch it has on its way. */
  #flushId = 0;
  #inFlight: Waiting[] = [];
  #notBefore = 0;
  #failures = 0;

  constructor(options: WriteBehindOptions) {
    this.#options = options;
  }

  /** How many uids wait for a write (for tests and the doctor). */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Evidence that `uid` exists, written soon; best effort. */
  refresh(seen: SeenUid, background: Background): void {
    if (!this.#waiting.has(seen.uid) && this.#waiting.size >= MAX_WAITING) return;
    this.#add({ ...seen, duty: false }, background);
  }

  /**
   * A uid served while D1 could not record it. With a queue, answers once the
   * queue has it (true); without one (or when the queue fails too) it waits
   * here for D1 and the answer is false: not durable.
   */
  async defer(seen: SeenUid, background: Background): Promise<boolean> {
    const queue = this.#options.queue;
    if (queue) {
      try {
        await queue.send({ kind: 'register', uids: [seen] });
        this.#options.onDeferred?.('queue');
        return true;
      } catch {
        // The queue is down too: keep it here.
      }
    }
    this.#options.onDeferred?.('memory');
    this.#add({ ...seen, duty: true }, background);
    return false;
  }

  /** Starts a flush if uids wait and none is running (every request calls this; it costs a map size check). */
  kick(background: Background): void {
    if (this.#waiting.size === 0 && this.#inFlight.length === 0) return;
    const now = this.#options.now();
    if (this.#flushStartedAt !== undefined && now - this.#flushStartedAt < FLUSH_PRESUMED_DEAD_MS) return;
    if (now < this.#notBefore) return;
    // A flush taken for dead never settles: the batch it had on its way waits again, so nothing is lost with it.
    for (const entry of this.#inFlight) if (!this.#waiting.has(entry.uid)) this.#waiting.set(entry.uid, entry);
    this.#inFlight = [];
    this.#flushStartedAt = now;
    background(this.#flush(++this.#flushId));
  }

  #add(entry: Waiting, background: Background): void {
    const earlier = this.#waiting.get(entry.uid);
    // Keep the first sighting's time for a registration (first_seen_at), the latest for a refresh.
    this.#waiting.set(entry.uid, earlier?.duty ? { ...earlier, at: Math.min(earlier.at, entry.at) } : entry);
    this.kick(background);
  }

  async #flush(id: number): Promise<void> {
    try {
      await (this.#options.sleep ?? realSleep)(COALESCE_MS);
      while (id === this.#flushId && this.#waiting.size > 0) {
        const batch = [...this.#waiting.values()].slice(0, MAX_PER_STATEMENT);
        for (const entry of batch) this.#waiting.delete(entry.uid);
        this.#inFlight = batch;
        try {
          await this.#options.registry.recordSeen(batch);
          if (id === this.#flushId) this.#inFlight = [];
          this.#failures = 0;
        } catch (error) {
          if (id !== this.#flushId) return; // a newer flush has taken this batch back
          this.#inFlight = [];
          for (const entry of batch)
            if (!this.#waiting.has(entry.uid) && (entry.duty || this.#waiting.size < MAX_WAITING)) this.#waiting.set(entry.uid, entry);
          this.#failures++;
          const delay = Math.min(RETRY_FIRST_MS * 2 ** (this.#failures - 1), RETRY_MAX_MS);
          this.#notBefore = this.#options.now() + delay;
          log.error('registry_write_failed', { waiting: this.#waiting.size, retry_in_ms: delay, error: errorText(error) });
          return;
        }
      }
    } finally {
      if (id === this.#flushId) this.#flushStartedAt = undefined;
    }
  }
}

/**
 * The queue's side: registrations sent while D1 was down, recorded in one
 * statement per batch. D1 still down: they come back later, for as long as
 * it is down (keepForLater).
 */
export async function recordQueuedRegistrations(
  messages: readonly Message<unknown>[],
  registry: UserRegistry,
  queue?: Queue<RegisterMessage>,
): Promise<void> {
  const valid: Message<unknown>[] = [];
  const seen: SeenUid[] = [];
  for (const message of messages) {
    const uids = registrationsIn(message.body);
    if (uids === undefined) {
      log.error('registry_message_invalid', { id: message.id });
      message.ack(); // retrying a malformed message cannot help
      continue;
    }
    valid.push(message);
    seen.push(...uids);
  }
  if (valid.length === 0) return;
  try {
    for (let i = 0; i < seen.length; i += MAX_PER_STATEMENT) await registry.recordSeen(seen.slice(i, i + MAX_PER_STATEMENT));
    for (const message of valid) message.ack();
  } catch (error) {
    log.error('registry_write_failed', { waiting: seen.length, error: errorText(error) });
    for (const message of valid) await keepForLater(message, queue);
  }
}

/** Retries a queue makes of one message before it is sent anew (below any sensible max_retries). */
const RETRIES_PER_MESSAGE = 3;
/** Queues' longest delay. */
const MAX_DELAY_SECONDS = 12 * 3600;

/**
 * D1 still down: the registration comes back later, with a delay that doubles. A queue gives up on a message
 * after its max_retries (then the dead-letter queue, or nothing), and an outage can outlast that, so before
 * then the message is sent anew and acknowledged: the registration keeps coming back for as long as D1 is down.
 */
async function keepForLater(message: Message<unknown>, queue: Queue<RegisterMessage> | undefined): Promise<void> {
  const body = message.body as RegisterMessage;
  const attempts = Number.isInteger(message.attempts) && message.attempts > 0 ? message.attempts : 1;
  const round = (Number.isInteger(body.round) ? (body.round as number) : 0) + attempts;
  const delaySeconds = Math.min(30 * 2 ** Math.max(0, round - 1), MAX_DELAY_SECONDS);
  if (queue && attempts >= RETRIES_PER_MESSAGE) {
    try {
      await queue.send({ ...body, round }, { delaySeconds });
      message.ack();
      return;
    } catch {
      // The queue refused too: its own retry is what is left.
    }
  }
  message.retry({ delaySeconds });
}

/** A `register` message's uids, or undefined when it is not one. */
function registrationsIn(body: unknown): SeenUid[] | undefined {
  const message = body as Partial<RegisterMessage> | null;
  if (message?.kind !== 'register' || !Array.isArray(message.uids) || message.uids.length === 0 || message.uids.length > MAX_PER_STATEMENT)
    return undefined;
  const valid = message.uids.every(
    (entry) => typeof entry?.uid === 'string' && typeof entry?.tenant === 'string' && Number.isFinite(entry?.at),
  );
  return valid ? message.uids.map(({ uid, tenant, at }) => ({ uid, tenant, at })) : undefined;
}

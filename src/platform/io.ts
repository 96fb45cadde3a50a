/**
 * The few I/O shapes every domain module takes as a dependency, written once:
 * tests pass their own (a fake clock's sleep, a stand-in's fetch), the Worker
 * passes these defaults.
 */

/** Finishes a promise after the answer is sent (`ctx.waitUntil`). */
export type Background = (promise: Promise<unknown>) => void;

export type Sleep = (ms: number) => Promise<void>;

/**
 * The global fetch, looked up on every call rather than captured once: the
 * test harness and the simulation replace `globalThis.fetch` per invocation.
 */
export const globalFetch: typeof fetch = (input, init) => fetch(input, init);

export const sleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What `promise` answers within `ms`, or undefined once that time is up or if it fails: for waits that
 * must stay bounded (a promise another request started, whose I/O this one must never wait on without end).
 */
export async function answerWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const gaveUp = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise.catch(() => undefined), gaveUp]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

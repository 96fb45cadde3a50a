/**
 * The one Node.js API the Worker uses, from workerd's `nodejs_als`
 * compatibility flag (wrangler.toml): AsyncLocalStorage, which tells an
 * invocation's code which invocation it runs in (src/platform/metrics.ts).
 * Declared here rather than with @types/node, whose globals do not exist in a Worker.
 */
declare module 'node:async_hooks' {
  export class AsyncLocalStorage<T> {
    run<R>(store: T, callback: () => R): R;
    getStore(): T | undefined;
  }
}

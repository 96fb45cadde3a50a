/**
 * The Worker's log lines: one JSON object per line, its `event` first, so
 * Workers Logs and `wrangler tail` can filter on it. A field never carries a
 * token, a secret or key material: callers log what failed, not what was
 * presented.
 *
 * @module
 */

type Fields = Record<string, unknown>;

const line = (event: string, fields: Fields) => JSON.stringify({ event, ...fields });

/**
 * One line per call, through `console` at the moment of the call (tests
 * replace console's methods). `info` is `console.log`: the level Workers
 * Logs shows by default.
 */
export const log = {
  info: (event: string, fields: Fields = {}): void => console.log(line(event, fields)),
  warn: (event: string, fields: Fields = {}): void => console.warn(line(event, fields)),
  error: (event: string, fields: Fields = {}): void => console.error(line(event, fields)),
};

/** What a failure says, for a log line or a summary: an Error's message, or whatever else was thrown, as text. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

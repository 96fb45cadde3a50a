import { vi } from 'vitest';

/**
 * The one way tests read what the Worker logs: spies on console.log, warn
 * and error that keep each line and print nothing. `restore()` puts the
 * console back (vitest's restoreMocks would too, but tests call it explicitly
 * so a capture never outlives the code it watches).
 */
export function captureConsole(): { lines: string[]; restore: () => void } {
  const lines: string[] = [];
  const keep = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  const spies = [
    vi.spyOn(console, 'log').mockImplementation(keep),
    vi.spyOn(console, 'warn').mockImplementation(keep),
    vi.spyOn(console, 'error').mockImplementation(keep),
  ];
  return { lines, restore: () => spies.forEach((spy) => spy.mockRestore()) };
}

/**
 * What the code under test logged during the current test, kept instead of printed (test/support/quiet-console.ts
 * installs it for every test file): a green run prints nothing it expected. A test that expects log
 * lines says so with `expectLogged`; lines nobody expected are printed after the test, as before.
 */
interface Logged {
  level: 'log' | 'warn' | 'error';
  text: string;
  event: string | undefined;
}

/**
 * One state per test file's isolate, whichever copy of this module reads it: vitest evaluates the setup
 * file's imports apart from the test file's.
 */
const shared = ((globalThis as { [key: symbol]: unknown })[Symbol.for('test/support/console')] ??= {
  held: [] as Logged[],
  expected: new Set<string>(),
  original: { log: console.log, warn: console.warn, error: console.error },
}) as { held: Logged[]; expected: Set<string>; original: Record<Logged['level'], (...args: unknown[]) => void> };
const { held, expected, original } = shared;

/** Replaces console.log, warn and error with keepers, once per test file (a spy a test installs still wins). */
export function holdConsole(): void {
  for (const level of ['log', 'warn', 'error'] as const) {
    console[level] = (...args: unknown[]) => {
      const text = args.map(String).join(' ');
      held.push({ level, text, event: eventOf(text) });
    };
  }
}

function eventOf(text: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && typeof (parsed as { event?: unknown }).event === 'string'
      ? (parsed as { event: string }).event
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Asserts that the code under test has logged, in this test so far, at least one line of each of these
 * `event`s (the Worker's JSON log lines), and expects them: they are not printed, now or later in the test.
 */
export function expectLogged(...events: string[]): void {
  const seen = new Set(held.map((line) => line.event));
  const missing = events.filter((event) => !seen.has(event));
  if (missing.length > 0) {
    throw new Error(`expected log events ${missing.join(', ')}; logged: ${held.map((line) => line.text).join('\n') || 'nothing'}`);
  }
  for (const event of events) expected.add(event);
}

/** After each test: prints what nobody expected (through the real console), and starts over. */
export function releaseConsole(): void {
  for (const line of held.splice(0)) if (line.event === undefined || !expected.has(line.event)) original[line.level](line.text);
  expected.clear();
}

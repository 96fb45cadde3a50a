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

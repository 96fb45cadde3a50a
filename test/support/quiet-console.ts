/**
 * Every test file's console: what the code under test logs is held for the test (test/support/console.ts),
 * asserted by the tests that expect it (`expectLogged`), and printed after the test only when nobody
 * expected it. So a green `npm test` prints its summary, not the error lines its tests provoke on purpose.
 */
import { afterEach, beforeEach } from 'vitest';
import { holdConsole, releaseConsole } from './console';

holdConsole();
beforeEach(() => releaseConsole());
afterEach(() => releaseConsole());

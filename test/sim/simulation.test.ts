/**
 * Model-based simulation of the whole Worker: fast-check drives
 * the real fetch, cron and queue handlers through random sequences of what
 * users, operators, Firebase, Stream and Google do (test/sim/commands.ts),
 * and after every command checks the promises of docs/promises.md (test/sim/invariants.ts).
 *
 * `npm test` runs SIM_RUNS sequences (default 1,000) of at least
 * SIM_COMMANDS commands (default 50). A breach prints the seed and path,
 * the shrunk command sequence and the promise it broke;
 * `npm run sim -- --seed <seed> --path <path>` replays it, and
 * `npm run sim -- --runs N` runs more, with progress every SIM_PROGRESS_SECONDS.
 */
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { exportPKCS8, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, it, vi } from 'vitest';
import { commandSequence } from './commands';
import { logLines, settle } from './invariants';
import { route } from './stand-ins';
import { coverage, GOOD_CONFIG, googleKey, installClock, realSetTimeout, World, type Keys } from './world';

const simEnv = env as unknown as {
  SIM_SEED?: string;
  SIM_RUNS?: string;
  SIM_COMMANDS?: string;
  SIM_PATH?: string;
  SIM_PROGRESS_SECONDS?: string;
};
const seed = simEnv.SIM_SEED ? Number(simEnv.SIM_SEED) : Math.floor(Math.random() * 2 ** 31);
const runs = Number(simEnv.SIM_RUNS || 1000);
const commands = Number(simEnv.SIM_COMMANDS || 50);
/** fast-check's path to one counterexample of `seed`: replays just that sequence. */
const replayPath = simEnv.SIM_PATH || undefined;
/** Set by `npm run sim`, which reports as it goes; under `npm test` only a breach is printed. */
const verbose = Boolean(simEnv.SIM_PROGRESS_SECONDS);
const progressMs = verbose ? Number(simEnv.SIM_PROGRESS_SECONDS) * 1000 : Number.POSITIVE_INFINITY;
/**
 * The test's time limit follows the count, so any count runs to completion: a sequence takes 70–400 ms on a
 * 2-core machine, quiet or busy; a second each leaves room for shrinking a breach. It only stops a hang.
 */
const timeoutMs = 300_000 + runs * 1000;
const START = Date.UTC(2026, 11, 1, 12, 0, 0);
// The Worker's own log lines are captured (and checked for leaks); the simulation's report is printed.
const print = console.info.bind(console);
const report = (line: string) => verbose && print(line);

/** How a sequence starts: a deployment, and which of Stream's two plausible answers it gives where its docs are silent. */
const startArbitrary = fc.record({
  config: fc.constantFrom<Partial<typeof GOOD_CONFIG>>(
    {},
    { queue: true },
    { access: 'emulator' },
    { tenants: [] },
    { tenants: ['blue', 'green'] },
  ),
  deleteRefusesUnknown: fc.boolean(),
  partialUnknown: fc.constantFrom<'404' | 'silent'>('404', 'silent'),
});

let keys: Keys;
let world: World | undefined;

beforeAll(async () => {
  const pairs = await Promise.all([1, 2, 3].map(() => generateKeyPair('RS256', { extractable: true })));
  const serviceAccount = await generateKeyPair('RS256', { extractable: true });
  keys = {
    google: await Promise.all(pairs.map((pair, index) => googleKey(`sim-key-${index}`, pair))),
    serviceAccountPem: await exportPKCS8(serviceAccount.privateKey),
  };
  // The simulation's clock: Date is the test's; a sleep advances it at once instead of waiting.
  vi.useFakeTimers({ toFake: ['Date'], now: START });
  installClock((ms) => vi.setSystemTime(ms));
  vi.stubGlobal('setTimeout', (callback: () => void, ms = 0) => {
    if (ms > 0) vi.setSystemTime(Date.now() + ms);
    return realSetTimeout(callback, 0);
  });
  vi.stubGlobal('fetch', (input: RequestInfo | URL, init?: RequestInit) => {
    if (!world) throw new Error('fetch outside a simulated sequence');
    return route(world, input, init);
  });
  for (const level of ['log', 'warn', 'error', 'info', 'debug'] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void logLines.push(args.map(String).join(' ')));
  }
});

afterAll(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

/** 3725 s → "1 h 2 min"; 75 s → "1 min 15 s". */
function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${s} s`;
}

async function resetRegistry(): Promise<void> {
  await env.DB.batch([env.DB.prepare('DELETE FROM stream_users'), env.DB.prepare('DELETE FROM reconcile_state')]);
}

describe('simulation: the promises (docs/promises.md) hold on every path', () => {
  it(`${runs} random sequences of ${commands}+ commands (seed ${seed})`, { timeout: timeoutMs }, async () => {
    report(`simulation: ${replayPath ? `replaying path ${replayPath} of` : `${runs} sequences of ${commands}+ commands,`} seed ${seed}`);
    let sequences = 0;
    let executed = 0;
    let breached = false;
    const startedAt = performance.now();
    let reportedAt = startedAt;
    const progress = () => {
      const now = performance.now();
      if (now - reportedAt < progressMs) return;
      reportedAt = now;
      const seconds = (now - startedAt) / 1000;
      const rate = sequences / seconds;
      const left = breached ? 'shrinking a breach' : `about ${formatDuration((runs - sequences) / rate)} left`;
      print(
        `simulation: ${sequences}/${runs} sequences, ${executed} commands, ${rate.toFixed(1)} sequences/s, ${formatDuration(seconds)} so far, ${left}`,
      );
    };
    const details = await fc.check(
      fc.asyncProperty(commandSequence(commands), startArbitrary, async (sequence, start) => {
        progress();
        sequences++;
        await resetRegistry();
        vi.setSystemTime(START);
        logLines.length = 0;
        world = new World(keys, { ...GOOD_CONFIG, ...start.config });
        world.stream.deleteRefusesUnknown = start.deleteRefusesUnknown;
        world.stream.partialUnknown = start.partialUnknown;
        world.signUp('', 'u0', { name: 'Ada' }); // people Firebase has from the start
        world.signUp('blue', 'u1', { name: 'Bo' });
        try {
          await fc.asyncModelRun(() => ({ model: {}, real: world! }), sequence);
          executed += sequence.length;
          await settle(world);
        } catch (error) {
          breached = true;
          throw error;
        }
      }),
      { numRuns: runs, seed, endOnFailure: false, ...(replayPath ? { path: replayPath } : {}) },
    );
    const seconds = (performance.now() - startedAt) / 1000;
    const lines = [...coverage].sort(([a], [b]) => a.localeCompare(b)).map(([what, n]) => `  ${String(n).padStart(6)}  ${what}`);
    report(`simulation coverage:\n${lines.join('\n')}`);
    report(`simulation: ${sequences} sequences run (shrinking included), ${executed} commands, ${formatDuration(seconds)}, seed ${seed}`);
    if (details.failed) {
      print(
        `simulation: BREACH in sequence ${details.numRuns} of seed ${details.seed}, path ${details.counterexamplePath} (shrunk ${details.numShrinks} times)\n` +
          `  replay: npm run sim -- --seed ${details.seed} --path ${details.counterexamplePath}\n` +
          `  sequence: ${fc.stringify(details.counterexample)}\n` +
          `  what broke: ${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}`,
      );
      throw new Error(fc.defaultReportMessage(details));
    }
    report('simulation: no breach');
  });
});

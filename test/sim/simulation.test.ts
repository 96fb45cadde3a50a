/**
 * Model-based simulation of the whole Worker (issue 15): fast-check drives
 * the real fetch, cron and queue handlers through random sequences of what
 * users, operators, Firebase, Stream and Google do (test/sim/commands.ts),
 * and after every command checks the promises of docs/promises.md (test/sim/invariants.ts).
 *
 * `npm test` runs SIM_RUNS sequences (default 1,000) of at least
 * SIM_COMMANDS commands (default 50). The seed is printed; a failure prints
 * the seed, the shrunk command sequence and the promise it broke, and
 * `SIM_SEED=<seed> npm test` replays it (`npm run sim -- --runs N` runs more).
 */
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { exportPKCS8, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, it, vi } from 'vitest';
import { commandSequence } from './commands';
import { logLines, settle } from './invariants';
import { route } from './stand-ins';
import { coverage, GOOD_CONFIG, googleKey, installClock, realSetTimeout, World, type Keys } from './world';

const simEnv = env as unknown as { SIM_SEED?: string; SIM_RUNS?: string; SIM_COMMANDS?: string };
const seed = simEnv.SIM_SEED ? Number(simEnv.SIM_SEED) : Math.floor(Math.random() * 2 ** 31);
const runs = Number(simEnv.SIM_RUNS || 1000);
const commands = Number(simEnv.SIM_COMMANDS || 50);
const START = Date.UTC(2026, 11, 1, 12, 0, 0);
// The Worker's own log lines are captured (and checked for leaks); the simulation's report is printed.
const print = console.info.bind(console);

/** How a sequence starts: a deployment, and which of Stream's two plausible answers it gives where its docs are silent. */
const startArbitrary = fc.record({
  config: fc.constantFrom<Partial<typeof GOOD_CONFIG>>({}, { queue: true }, { access: 'emulator' }, { tenants: [] }, { tenants: ['blue', 'green'] }),
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

async function resetRegistry(): Promise<void> {
  await env.DB.batch([env.DB.prepare('DELETE FROM stream_users'), env.DB.prepare('DELETE FROM reconcile_state')]);
}

describe('simulation: the promises (docs/promises.md) hold on every path', () => {
  it(`${runs} random sequences of ${commands}+ commands (seed ${seed})`, { timeout: 900_000 }, async () => {
    print(`simulation: seed ${seed} (replay: SIM_SEED=${seed} npm test)`);
    let sequences = 0;
    let executed = 0;
    const startedAt = performance.now();
    await fc.assert(
      fc.asyncProperty(commandSequence(commands), startArbitrary, async (sequence, start) => {
        sequences++;
        await resetRegistry();
        vi.setSystemTime(START);
        logLines.length = 0;
        world = new World(keys, { ...GOOD_CONFIG, ...start.config });
        world.stream.deleteRefusesUnknown = start.deleteRefusesUnknown;
        world.stream.partialUnknown = start.partialUnknown;
        world.signUp('', 'u0', { name: 'Ada' }); // people Firebase has from the start
        world.signUp('blue', 'u1', { name: 'Bo' });
        await fc.asyncModelRun(() => ({ model: {}, real: world! }), sequence);
        executed += sequence.length;
        await settle(world);
      }),
      { numRuns: runs, seed, endOnFailure: false },
    );
    const seconds = (performance.now() - startedAt) / 1000;
    const lines = [...coverage].sort(([a], [b]) => a.localeCompare(b)).map(([what, n]) => `  ${String(n).padStart(6)}  ${what}`);
    print(`simulation coverage:\n${lines.join('\n')}`);
    print(`simulation: ${sequences} sequences, ${executed} commands, ${seconds.toFixed(1)} s, seed ${seed}`);
  });
});

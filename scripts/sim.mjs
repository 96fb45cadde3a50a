// @ts-check
// `npm run sim -- --runs N [--commands M] [--seed S]`: the simulation (test/sim/) with more sequences than
// `npm test` runs, or one seed replayed. Prints the seed, what it exercised, and any broken promise.
import { spawnSync } from 'node:child_process';
import { parseCli } from './lib/cli.mjs';

const { values } = parseCli(import.meta.url, { runs: { type: 'string', default: '10000' }, commands: { type: 'string', default: '50' }, seed: { type: 'string' } });
for (const [name, value] of Object.entries(values)) {
  if (value !== undefined && !/^\d+$/.test(value)) {
    console.error(`--${name} must be a whole number`);
    process.exit(2);
  }
}
const env = { ...process.env, SIM_RUNS: values.runs, SIM_COMMANDS: values.commands, ...(values.seed ? { SIM_SEED: values.seed } : {}) };
const result = spawnSync('npx', ['vitest', 'run', 'test/sim'], { stdio: 'inherit', env });
process.exit(result.status ?? 1);

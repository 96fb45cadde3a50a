// @ts-check
// `npm run sim -- --runs N [--commands M] [--seed S] [--path P] [--progress SECONDS]`: the simulation
// (test/sim/) with more sequences than `npm test` runs, or one breach replayed (`--seed` and `--path`, as a
// breach prints them). Any count runs to completion: the test's time limit follows --runs. It prints the
// seed first, progress every --progress seconds (sequences done, rate, time left), and at the end the
// sequences and commands run, and the seed, path and sequence of any breach.
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { parseCli } from './lib/cli.mjs';

const { values } = parseCli(import.meta.url, {
  runs: { type: 'string', default: '10000' },
  commands: { type: 'string', default: '50' },
  seed: { type: 'string' },
  path: { type: 'string' },
  progress: { type: 'string', default: '10' },
});
for (const name of /** @type {const} */ (['runs', 'commands', 'seed', 'progress'])) {
  const value = values[name];
  if (value !== undefined && !/^\d+$/.test(value)) {
    console.error(`--${name} must be a whole number (npm run sim -- --help)`);
    process.exit(2);
  }
}
if (values.path !== undefined && !/^\d+(:\d+)*$/.test(values.path)) {
  console.error('--path is fast-check\'s path, as a breach prints it: numbers separated by ":"');
  process.exit(2);
}
if (values.path !== undefined && values.seed === undefined) {
  console.error('--path replays a sequence of one seed: give --seed too');
  process.exit(2);
}
// Chosen here, so that it is on screen before anything runs, whatever happens next.
const seed = values.seed ?? String(randomInt(2 ** 31));
console.log(
  `simulation: seed ${seed}${values.path ? `, path ${values.path}` : `, ${values.runs} sequences`}; progress every ${values.progress} s`,
);
const env = {
  ...process.env,
  SIM_RUNS: values.runs,
  SIM_COMMANDS: values.commands,
  SIM_SEED: seed,
  SIM_PATH: values.path ?? '',
  SIM_PROGRESS_SECONDS: values.progress,
};
// --silent=false: the simulation's progress and report are printed as they come, also when it passes.
const result = spawnSync('npx', ['vitest', 'run', 'test/sim', '--silent=false'], { stdio: 'inherit', env });
process.exit(result.status ?? 1);

// `npm run sim` (scripts/sim.mjs): says its seed first, reports progress and what it ran, and refuses
// arguments it cannot use before starting anything.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const run = (...args: string[]) => spawnSync(process.execPath, ['scripts/sim.mjs', ...args], { encoding: 'utf8', timeout: 170_000 });

describe('scripts/sim.mjs', () => {
  it('answers --help and refuses a path without its seed, or a count that is not a number', () => {
    expect(run('--help').stdout).toContain('--runs');
    const pathAlone = run('--path', '0:1');
    expect(pathAlone.status).toBe(2);
    expect(pathAlone.stderr).toContain('--seed');
    expect(run('--runs', 'many').status).toBe(2);
  });

  it('prints the seed first, progress as it goes, and at the end the sequences and commands run', () => {
    const result = run('--runs', '3', '--seed', '42', '--progress', '0');
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toBe('simulation: seed 42, 3 sequences; progress every 0 s');
    expect(result.stdout).toMatch(/simulation: [12]\/3 sequences, \d+ commands, [\d.]+ sequences\/s, .* left/);
    expect(result.stdout).toMatch(/simulation: 3 sequences run \(shrinking included\), \d+ commands, \d+ s, seed 42/);
    expect(result.stdout).toContain('simulation: no breach');
  });
});

import { execFile } from 'node:child_process';
import { expect, it } from 'vitest';

// Not a measurement: proves `npm run bench` still runs end to end, so it cannot rot.
it('the benchmark runs for a second against this Worker and prints its table', async () => {
  const { status, stdout, stderr } = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [
        'bench/run.mjs',
        '--duration',
        '1',
        '--rounds',
        '1',
        '--users',
        '20',
        '--connections',
        '5',
        '--only',
        'worker',
        '--no-extras',
        '--generator',
        'autocannon',
      ],
      { timeout: 150_000 },
      (error, out, err) => resolve({ status: error ? 1 : 0, stdout: out, stderr: err }),
    );
  });
  expect(status, stderr).toBe(0);
  expect(stdout).toContain('| this Worker (bundle as deployed, workerd) |');
  expect(stdout).not.toContain('answered wrongly');
  expect(stdout).toMatch(/\| this Worker \(bundle as deployed, workerd\) \| [1-9]\d* \|/); // a non-zero req/s
});

// Not a measurement either: `npm run bench:distance` serves the real bundle behind its D1 model, end to end.
it('the distance benchmark runs a few users through each scenario and prints its table', async () => {
  const { status, stdout, stderr } = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [
        'bench/d1-distance.mjs',
        '--users',
        '6',
        '--outage-users',
        '2',
        '--warmup',
        '1',
        '--primary-ms',
        '10',
        '--replica-ms',
        '1',
        '--concurrency',
        '3',
        '--recovery-seconds',
        '2',
      ],
      { timeout: 150_000 },
      (error, out, err) => resolve({ status: error ? 1 : 0, stdout: out, stderr: err }),
    );
  });
  expect(status, stderr).toBe(0);
  expect(stdout).toMatch(/\| returning users \| 6 \| 6 \(100 %\) \|/);
  expect(stdout).toMatch(/\| new users \| 6 \| 6 \(100 %\) \|/);
  expect(stdout).toContain('| D1 down (isolate started before) | 4 |');
  expect(stdout).toContain('6 of 6 new uids in the registry');
});

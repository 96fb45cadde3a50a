import { execFile } from 'node:child_process';
import { expect, it } from 'vitest';

// Not a measurement: proves `npm run bench` still runs end to end, so it cannot rot.
it('the benchmark runs for a second against this Worker and prints its table', async () => {
  const { status, stdout, stderr } = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['bench/run.mjs', '--duration', '1', '--rounds', '1', '--users', '20', '--connections', '5', '--only', 'worker', '--no-extras', '--generator', 'autocannon'],
      { timeout: 150_000 },
      (error, out, err) => resolve({ status: error ? 1 : 0, stdout: out, stderr: err }),
    );
  });
  expect(status, stderr).toBe(0);
  expect(stdout).toContain('| this Worker (bundle as deployed, workerd) |');
  expect(stdout).not.toContain('answered wrongly');
  expect(stdout).toMatch(/\| this Worker \(bundle as deployed, workerd\) \| [1-9]\d* \|/); // a non-zero req/s
});

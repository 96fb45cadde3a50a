import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';

it('npm run demo goes through the whole flow and passes every check', () => {
  const result = spawnSync(process.execPath, ['scripts/demo.mjs', '--fresh'], { encoding: 'utf8', timeout: 170_000 });
  const output = `${result.stdout}\n${result.stderr}`;
  expect(output).toContain('9. The Stream user is gone');
  expect(output).not.toContain('✗');
  expect(output, output).toContain('Demo passed');
  expect(result.status).toBe(0);
});

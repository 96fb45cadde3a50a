// The engine check that `npm test` runs: every locked package accepts the Node versions package.json promises.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { engineMismatches } from '../../scripts/check-engines.mjs';

const lock = (packages: Record<string, object>) => ({ packages: { '': {}, ...packages } });

describe('scripts/check-engines.mjs', () => {
  it('passes on this repository', () => {
    const result = spawnSync(process.execPath, ['scripts/check-engines.mjs'], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('names a locked package that wants a newer Node than the floor promised', () => {
    const found = engineMismatches(
      lock({
        'node_modules/@firebase/app': { version: '0.16.5', engines: { node: '>=24.12.0' } },
        'node_modules/vite': { version: '7.0.0', engines: { node: '^20.19.0 || >=22.12.0' } },
      }),
      '>=20.19.0',
      '24.12.0',
    );
    expect(found).toEqual([{ package: '@firebase/app', version: '0.16.5', wants: '>=24.12.0', node: '20.19.0' }]);
  });

  it('checks the Node that runs it too, and skips binaries for other platforms', () => {
    const found = engineMismatches(
      lock({
        'node_modules/old-only': { version: '1.0.0', engines: { node: '20 || 22' } },
        'node_modules/@img/sharp-darwin-arm64': { version: '1', optional: true, os: ['darwin'], engines: { node: '>=99' } },
      }),
      '>=20.19.0',
      '24.1.0',
    );
    expect(found).toEqual([{ package: 'old-only', version: '1.0.0', wants: '20 || 22', node: '24.1.0' }]);
  });
});

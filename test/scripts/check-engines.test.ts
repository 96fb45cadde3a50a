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
    expect(result.stdout).toContain('check-engines: every locked package accepts'); // it ran, not just exited
  });

  it('names a locked package that refuses a Node the promise admits, at the floor or between majors', () => {
    const found = engineMismatches(
      lock({
        'node_modules/@firebase/app': { version: '0.16.5', engines: { node: '>=24.12.0' } },
        'node_modules/vite': { version: '7.0.0', engines: { node: '^20.19.0 || >=22.12.0' } },
        'node_modules/superstatic': { version: '10.0.0', engines: { node: '20 || 22 || 24' } },
      }),
      '>=20.19.0',
      '24.12.0',
    );
    // >=20.19.0 admits 21 (vite refuses it), 25 (superstatic) and 20 (@firebase/app).
    expect(found.map((f: { package: string }) => f.package)).toEqual(['@firebase/app', 'vite', 'superstatic']);
    expect(
      engineMismatches(
        lock({ 'node_modules/vite': { version: '7.0.0', engines: { node: '^20.19.0 || >=22.12.0' } } }),
        '^20.19.0 || ^22.13.0 || ^24.0.0',
        '24.1.0',
      ),
    ).toEqual([]);
  });

  it('checks the Node that runs it too, and skips binaries for other platforms', () => {
    const found = engineMismatches(
      lock({
        'node_modules/old-only': { version: '1.0.0', engines: { node: '20 || 22' } },
        'node_modules/@img/sharp-darwin-arm64': { version: '1', optional: true, os: ['darwin'], engines: { node: '>=99' } },
      }),
      '^20.19.0 || ^22.13.0',
      '24.1.0',
    );
    expect(found).toEqual([{ package: 'old-only', version: '1.0.0', wants: '20 || 22', node: '24.1.0' }]);
  });

  it('reports a range it cannot read instead of crashing', () => {
    const found = engineMismatches(lock({ 'node_modules/odd': { version: '1.0.0', engines: { node: 'garbage' } } }), '^20.19.0', '20.20.0');
    expect(found).toEqual([{ package: 'odd', version: '1.0.0', wants: 'garbage', node: '^20.19.0' }]);
  });
});

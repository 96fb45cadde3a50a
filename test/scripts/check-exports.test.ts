// The unused-export check that `npm test` runs: an export of src/ that no file imports fails it.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { tree } from './tree';

const run = (root?: string) =>
  spawnSync(process.execPath, ['scripts/check-exports.mjs', ...(root ? ['--root', root] : [])], { encoding: 'utf8' });

describe('scripts/check-exports.mjs', () => {
  it('passes on this repository', () => {
    const result = run();
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('names each export nobody imports; imports from tests count, and so does the Worker entry', () => {
    const dir = tree({
      'wrangler.toml': 'name = "x"\nmain = "src/index.ts"\n',
      'src/index.ts': "import { used } from './lib';\nexport default { fetch: () => used };\nexport class Batcher {}\n",
      'src/lib.ts': 'export const used = 1;\nexport const tested = 2;\nexport type Forgotten = number;\nexport function forgotten() {}\n', // check-paths: ignore
      'test/lib.test.ts': "import { tested } from '../src/lib';\nexport const local = tested;\n", // check-paths: ignore
    });
    const result = run(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('src/lib.ts:3 Forgotten'); // check-paths: ignore
    expect(result.stderr).toContain('src/lib.ts:4 forgotten'); // check-paths: ignore
    expect(result.stderr).not.toMatch(/used|tested|Batcher|default|local/);
  });

  it('counts a namespace import or `export *` as using every export', () => {
    const dir = tree({
      'src/index.ts': "import * as lib from './lib';\nexport * from './other';\nexport default lib;\n",
      'src/lib.ts': 'export const a = 1;\n', // check-paths: ignore
      'src/other.ts': 'export const b = 1;\n', // check-paths: ignore
      'wrangler.toml': 'main = "src/index.ts"\n',
    });
    expect(run(dir).status).toBe(0);
  });
});

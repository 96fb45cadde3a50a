// The import-cycle check that `npm test` runs on src/: it must fail on a cycle, type-only imports included,
// between modules or between the folders of src/.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { tree } from './tree';

const run = (dir: string) => spawnSync(process.execPath, ['scripts/check-cycles.mjs', dir], { encoding: 'utf8' });

describe('scripts/check-cycles.mjs', () => {
  it('passes on src/', () => {
    const result = run('src');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('fails on a cycle through a type-only import, naming the modules', () => {
    const dir = tree({
      'config.ts': "import { helper } from './domain/a';\nexport const x = helper;\n",
      'domain/a.ts': "import type { Config } from '../config';\nexport const helper = 1;\nexport type T = Config;\n",
    });
    const result = run(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/import cycle: .*config\.ts → .*domain\/a\.ts → .*config\.ts/);
  });

  it('follows index files and re-exports', () => {
    const dir = tree({
      'a.ts': "export * from './b';\n",
      'b/index.ts': "export { c } from '../c';\n",
      'c.ts': "import { a } from './a';\nexport const c = a;\n",
    });
    expect(run(dir).status).toBe(1);
    expect(run(tree({ 'a.ts': "export { b } from './b';\n", 'b.ts': 'export const b = 1;\n' })).status).toBe(0);
  });

  it('sees a type written as typeof import(…) or import(…).Name', () => {
    const dir = tree({
      'a.ts': "export type B = typeof import('./b');\nexport const a = 1;\n",
      'b.ts': "export type A = import('./a').A2;\nexport const b = 2;\n",
    });
    expect(run(dir).status).toBe(1);
  });

  it('fails on a loop between folders that no single module closes, types included, naming an import of each step', () => {
    const dir = tree({
      'config/config.ts': "import type { CorsPolicy } from '../http/cors';\nexport type Config = { cors: CorsPolicy };\n",
      'http/cors.ts': "export type CorsPolicy = 'none';\n",
      'http/app.ts': "import { issue } from '../service';\nexport const app = issue;\n",
      'service.ts': "import type { Config } from './config/config';\nexport const issue = (config: Config) => config;\n",
    });
    const result = run(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).not.toMatch(/import cycle/);
    expect(result.stderr).toMatch(
      /folder cycle: config → http → service\.ts → config \(.*config\/config\.ts imports .*http\/cors\.ts; .*http\/app\.ts imports .*service\.ts; .*service\.ts imports .*config\/config\.ts\)/,
    );
  });

  it('passes when the folders form layers, however their files import each other inside a folder', () => {
    const dir = tree({
      'config/config.ts': "import type { CorsPolicy } from './cors';\nexport type Config = { cors: CorsPolicy };\n",
      'config/cors.ts': "export type CorsPolicy = 'none';\n",
      'http/cors.ts': "import type { CorsPolicy } from '../config/cors';\nexport const policy: CorsPolicy = 'none';\n",
      'http/app.ts': "import { issue } from '../service';\nimport { policy } from './cors';\nexport const app = [issue, policy];\n",
      'service.ts': "import type { Config } from './config/config';\nexport const issue = (config: Config) => config;\n",
    });
    expect(run(dir).stderr).toBe('');
    expect(run(dir).status).toBe(0);
  });
});

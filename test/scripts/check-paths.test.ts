// The path check that `npm test` runs: every repository path named in a comment or a document exists.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { tree } from './tree';

const run = (dir?: string) => spawnSync(process.execPath, ['scripts/check-paths.mjs', ...(dir ? [dir] : [])], { encoding: 'utf8' });

describe('scripts/check-paths.mjs', () => {
  it('passes on this repository', () => {
    expect(run().status).toBe(0);
  });

  it('fails on a comment naming a file that does not exist, and names it', () => {
    const dir = tree({
      'src/a.ts': '// see src/b.ts and src/gone.ts (https://example.com/src/not-ours.ts)\n', // check-paths: ignore
      'src/b.ts': '', // check-paths: ignore
      'README.md': 'See `docs/missing.md`.\n', // check-paths: ignore
    });
    const result = run(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('src/a.ts: src/gone.ts'); // check-paths: ignore
    expect(result.stderr).toContain('README.md: docs/missing.md'); // check-paths: ignore
    expect(result.stderr).not.toContain('src/b.ts'); // check-paths: ignore
    expect(result.stderr).not.toContain('not-ours');
  });

  it('fails on a comment or a document naming an issue number or a simulation seed, but not on BENCHMARKS.md or a URL', () => {
    const dir = tree({
      'src/a.ts': '// Checked on every path (issue 15).\nexport const a = 1;\n', // check-paths: ignore
      'test/b.test.ts': '/** The simulation found this, seed 1542233912. */\n', // check-paths: ignore
      'docs/c.md': 'Since Issue #8 the index is partial.\n', // check-paths: ignore
      'BENCHMARKS.md': '## Reconciliation at scale (issue 8)\n', // check-paths: ignore
      'src/d.ts': '// Until https://github.com/cloudflare/workers-sdk/issues/13632 is fixed; every issued token.\n', // check-paths: ignore
    });
    const result = run(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('src/a.ts:1: names "issue 15"'); // check-paths: ignore
    expect(result.stderr).toContain('test/b.test.ts:1: names "seed 1542233912"'); // check-paths: ignore
    expect(result.stderr).toContain('docs/c.md:1: names "Issue #8"'); // check-paths: ignore
    expect(result.stderr).not.toContain('BENCHMARKS.md');
    expect(result.stderr).not.toContain('src/d.ts'); // check-paths: ignore
  });

  it('fails on a Markdown link to a missing file or heading', () => {
    const readme =
      '# Title\n\n## Limits\n\nSee [ok](docs/a.md#the-rules), [self](#limits), [gone](docs/b.md), [bad anchor](docs/a.md#nope) and [web](https://example.com/x.md#y).\n'; // check-paths: ignore
    const docsA =
      '# A\n\n## The rules\n\n## The rules\n\n## FIREBASE_CHECK_REVOKED\n\n```sh\n# not a heading\n```\n\n[back](../README.md#limits), [again](../README.md#what-it-is), [second](#the-rules-1), [underscore](#firebase_check_revoked), [titled](/README.md "Home"), [fenced](#not-a-heading), [no underscore](#firebasecheckrevoked)\n'; // check-paths: ignore
    const dir = tree({ 'README.md': readme, 'docs/a.md': docsA }); // check-paths: ignore
    const result = run(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('README.md: link docs/b.md'); // check-paths: ignore
    expect(result.stderr).toContain('README.md: link docs/a.md#nope (no such heading)'); // check-paths: ignore
    expect(result.stderr).toContain('docs/a.md: link ../README.md#what-it-is (no such heading)'); // check-paths: ignore
    expect(result.stderr).toContain('docs/a.md: link #not-a-heading (no such heading)'); // check-paths: ignore
    expect(result.stderr).toContain('docs/a.md: link #firebasecheckrevoked (no such heading)'); // check-paths: ignore
    expect(result.stderr).not.toMatch(/#the-rules|#firebase_check_revoked|\/README\.md /);
    expect(result.stderr).not.toContain('#limits');
    expect(result.stderr).not.toContain('example.com');
  });
});

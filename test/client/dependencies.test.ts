/**
 * What an app takes on with the client, and what the Worker's install pulls
 * in: the client imports nothing at run time (types only), and the
 * `dependencies` of package.json are exactly the packages src/ imports (the
 * rest, jose included, is for tests, scripts and benchmarks: devDependencies).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const importsOf = (source: string, { typesToo }: { typesToo: boolean }) => [
  ...[...source.matchAll(/^\s*(import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)'/gm)].filter((m) => typesToo || !m[2]).map((m) => m[3]!),
  ...[...source.matchAll(/^\s*import\s+'([^']+)'/gm)].map((m) => m[1]!),
];
const packageOf = (specifier: string) =>
  specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

it('the client imports nothing at run time', () => {
  expect(importsOf(readFileSync('client/index.ts', 'utf8'), { typesToo: false })).toEqual([]);
});

it("package.json's dependencies are exactly the packages the Worker (src/) imports at run time", () => {
  const used = new Set<string>();
  for (const file of sources('src')) {
    for (const specifier of importsOf(readFileSync(file, 'utf8'), { typesToo: false })) {
      if (!specifier.startsWith('.') && !specifier.startsWith('cloudflare:') && !specifier.startsWith('node:'))
        used.add(packageOf(specifier));
    }
  }
  const { dependencies } = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
  expect(Object.keys(dependencies).sort()).toEqual([...used].sort());
});

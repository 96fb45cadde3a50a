// @ts-check
// Loads client/index.ts (the token provider apps use) into a Node script: it is one dependency-free
// TypeScript file, so esbuild's transform makes it JavaScript without a build step.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transform } from 'esbuild';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'client', 'index.ts');

/** @returns {Promise<typeof import('../../client/index')>} */
export async function loadClient() {
  const { code } = await transform(readFileSync(SOURCE, 'utf8'), { loader: 'ts', format: 'esm', target: 'es2022' });
  const file = join(mkdtempSync(join(tmpdir(), 'stream-token-client-')), 'index.mjs');
  writeFileSync(file, code);
  return import(pathToFileURL(file).href);
}

// @ts-check
// Loads client/index.ts (the token provider apps use) into a Node script: it is one dependency-free
// TypeScript file, so esbuild's transform makes it JavaScript without a build step.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transform } from 'esbuild';
import { removeTempDir, tempDir } from './process.mjs';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'client', 'index.ts');

/** @returns {Promise<typeof import('../../client/index')>} */
export async function loadClient() {
  const { code } = await transform(readFileSync(SOURCE, 'utf8'), { loader: 'ts', format: 'esm', target: 'es2022' });
  // Written to a file only to be imported: removed once loaded.
  const dir = tempDir('stream-token-client-');
  const file = join(dir, 'index.mjs');
  writeFileSync(file, code);
  try {
    return await import(pathToFileURL(file).href);
  } finally {
    removeTempDir(dir);
  }
}

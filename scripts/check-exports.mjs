#!/usr/bin/env node
// @ts-check
/**
 * Fails when a module under src/ exports a name no other file imports: an
 * export is a promise that someone else uses it, and an unused one hides what a module's real interface is. Imports
 * from tests, scripts, benchmarks and the client count as uses; the Worker's
 * entry (wrangler.toml's `main`: its default export and the classes wrangler
 * binds) is used by the platform.
 *
 *   node scripts/check-exports.mjs [--root DIR]
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { readModules, sourceFiles } from './lib/modules.mjs';
import { answerHelp } from './lib/cli.mjs';

answerHelp(import.meta.url);

const index = process.argv.indexOf('--root');
const root = resolve(index > 0 ? (process.argv[index + 1] ?? '.') : '.');
const IMPORTERS = ['src', 'test', 'client', 'scripts', 'bench', 'examples'];

const checked = sourceFiles(join(root, 'src'));
const modules = readModules(
  IMPORTERS.map((dir) => join(root, dir))
    .filter(existsSync)
    .flatMap(sourceFiles),
);
const main = /^main\s*=\s*"([^"]+)"/m.exec(
  existsSync(join(root, 'wrangler.toml')) ? readFileSync(join(root, 'wrangler.toml'), 'utf8') : '',
)?.[1];
const entry = main ? resolve(root, main) : undefined;

/** @type {Map<string, Set<string> | '*'>} names each file's exports are imported by */
const used = new Map();
for (const [file, module] of modules) {
  for (const entryImport of module.imports) {
    if (entryImport.target === file) continue;
    const names = used.get(entryImport.target) ?? new Set();
    if (names === '*' || entryImport.names === '*') used.set(entryImport.target, '*');
    else used.set(entryImport.target, new Set([...names, ...entryImport.names]));
  }
}

const unused = [];
for (const file of checked) {
  if (file === entry) continue;
  const names = used.get(file);
  if (names === '*') continue;
  for (const exported of modules.get(file)?.exports ?? []) {
    if (!names?.has(exported.name)) unused.push(`${relative(root, file)}:${exported.line} ${exported.name}`);
  }
}
if (unused.length > 0) {
  console.error(`exports nobody imports (${unused.length}); drop the export, or the code:\n  ${unused.join('\n  ')}`);
  process.exit(1);
}
console.log(`check-exports: every export of ${checked.length} modules in src/ is imported somewhere`);

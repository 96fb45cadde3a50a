// @ts-check
/**
 * Fails (exit 1) when the modules under src/ import each other in a cycle,
 * type-only imports included: a cycle between domain modules is how
 * configuration and rules start leaking across layers (issue: "no import
 * cycles"). Imports are read with the TypeScript compiler's parser
 * (scripts/lib/modules.mjs) rather than a dependency such as madge, which
 * skips type imports unless told otherwise.
 *
 * Usage: node scripts/check-cycles.mjs [dir]   (default: src)
 */
import { relative, resolve } from 'node:path';
import { readModules, sourceFiles } from './lib/modules.mjs';
import { answerHelp } from './lib/cli.mjs';

answerHelp(import.meta.url);

const root = resolve(process.argv[2] ?? 'src');
const files = sourceFiles(root);
const modules = readModules(files);
/** @type {Map<string, string[]>} */
const graph = new Map([...modules].map(([file, module]) => [file, module.imports.map((entry) => entry.target)]));

// Depth-first search; a back edge to a module on the current path is a cycle.
/** @type {Map<string, 'active' | 'done'>} */
const state = new Map();
/** @type {string[][]} */
const cycles = [];
/** @param {string} file @param {string[]} path */
function visit(file, path) {
  state.set(file, 'active');
  for (const next of graph.get(file) ?? []) {
    if (state.get(next) === 'active') cycles.push([...path.slice(path.indexOf(next)), next]);
    else if (!state.has(next)) visit(next, [...path, next]);
  }
  state.set(file, 'done');
}
for (const file of files) if (!state.has(file)) visit(file, [file]);

if (cycles.length > 0) {
  for (const cycle of cycles) console.error(`import cycle: ${cycle.map((file) => relative(process.cwd(), file)).join(' → ')}`);
  process.exit(1);
}
console.log(`no import cycles among ${files.length} modules in ${relative(process.cwd(), root) || '.'}`);

// @ts-check
/**
 * Fails (exit 1) when the modules under src/ import each other in a cycle,
 * type-only imports included: a cycle between domain modules is how
 * configuration and rules start leaking across layers (issue: "no import
 * cycles"). Forty lines instead of a dependency such as madge, whose
 * TypeScript support pulls in a compiler of its own and skips type imports
 * unless told otherwise.
 *
 * Usage: node scripts/check-cycles.mjs [dir]   (default: src)
 */
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? 'src');
/** @param {string} dir @returns {string[]} */
const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });

/** @param {string} from @param {string} specifier */
function resolveImport(from, specifier) {
  const base = resolve(dirname(from), specifier);
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, join(base, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

const files = walk(root);
/** @type {Map<string, string[]>} */
const graph = new Map();
const importPattern = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
for (const file of files) {
  const source = readFileSync(file, 'utf8');
  const targets = [];
  for (const match of source.matchAll(importPattern)) {
    const target = resolveImport(file, match[1] ?? match[2] ?? '');
    if (target) targets.push(target);
  }
  graph.set(file, targets);
}

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

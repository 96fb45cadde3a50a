// @ts-check
/**
 * Fails (exit 1) when the modules under src/ import each other in a cycle,
 * type-only imports included: a cycle between domain modules is how
 * configuration and rules start leaking across layers. It also fails on a
 * cycle between the folders of src/ (each top-level file counting as its
 * own unit), where no single module loops: config/ importing a type from
 * http/ while http/ reaches config/ through the token service is such a
 * loop, and it means a type lives in the layer above its owner. Imports are
 * read with the TypeScript compiler's parser (scripts/lib/modules.mjs)
 * rather than a dependency such as madge, which skips type imports unless
 * told otherwise.
 *
 * Usage: node scripts/check-cycles.mjs [dir]   (default: src)
 */
import { relative, resolve, sep } from 'node:path';
import { readModules, sourceFiles } from './lib/modules.mjs';
import { answerHelp } from './lib/cli.mjs';

answerHelp(import.meta.url);

const root = resolve(process.argv[2] ?? 'src');
const files = sourceFiles(root);
const modules = readModules(files);
/** @type {Map<string, string[]>} */
const graph = new Map([...modules].map(([file, module]) => [file, module.imports.map((entry) => entry.target)]));

/**
 * Every cycle of a directed graph, one per back edge of a depth-first search
 * (a back edge to a node on the current path closes a cycle).
 * @param {Map<string, string[]>} edges @param {Iterable<string>} nodes @returns {string[][]}
 */
function findCycles(edges, nodes) {
  /** @type {Map<string, 'active' | 'done'>} */
  const state = new Map();
  /** @type {string[][]} */
  const found = [];
  /** @param {string} node @param {string[]} path */
  const visit = (node, path) => {
    state.set(node, 'active');
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === 'active') found.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next, [...path, next]);
    }
    state.set(node, 'done');
  };
  for (const node of nodes) if (!state.has(node)) visit(node, [node]);
  return found;
}

/** @param {string} file */
const shown = (file) => relative(process.cwd(), file);
const cycles = findCycles(graph, files);
for (const cycle of cycles) console.error(`import cycle: ${cycle.map(shown).join(' → ')}`);

// The same search one level up: a folder of src/ (or a file at its top) is a unit, and an import between units an edge.
/** @param {string} file @returns {string} */
const unitOf = (file) => relative(root, file).split(sep)[0] ?? file;
/** @type {Map<string, string[]>} */
const unitEdges = new Map();
/** One import that makes each edge, so the message names the lines to change. @type {Map<string, string>} */
const witness = new Map();
for (const [file, targets] of graph) {
  for (const target of targets) {
    const [from, to] = [unitOf(file), unitOf(target)];
    if (from === to) continue;
    const list = unitEdges.get(from) ?? [];
    if (!list.includes(to)) unitEdges.set(from, [...list, to]);
    if (!witness.has(`${from}\0${to}`)) witness.set(`${from}\0${to}`, `${shown(file)} imports ${shown(target)}`);
  }
}
const folderCycles = findCycles(unitEdges, [...new Set(files.map(unitOf))].sort());
for (const cycle of folderCycles) {
  const steps = cycle.slice(1).map((to, index) => witness.get(`${cycle[index]}\0${to}`));
  console.error(`folder cycle: ${cycle.join(' → ')} (${steps.join('; ')})`);
}

if (cycles.length > 0 || folderCycles.length > 0) process.exit(1);
console.log(`no import cycles among ${files.length} modules or the folders of ${relative(process.cwd(), root) || '.'}`);

#!/usr/bin/env node
// @ts-check
// Every repository path a comment or a document names (src/…, test/…, scripts/…, docs/…, bench/…,
// migrations/…, examples/…, client/…) must exist, so maps and comments cannot go stale.
// Checks the source, tests, scripts and Markdown; a name with a wildcard or a placeholder is skipped, and so
// is a line that says `check-paths: ignore`. In Markdown, every relative link must reach a file, and its
// `#anchor` a heading of that file (the README links into docs/, and docs/ into each other).
// Nor may a comment or a document point at this project's tracker (the word issue and a number) or at one
// run of the simulation (the word seed and its number): a reader cannot see either, so the text says the reason itself and the
// history stays in the commits. BENCHMARKS.md, a dated log of measurements, is exempt.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { answerHelp } from './lib/cli.mjs';

answerHelp(import.meta.url);

// The repository, or another tree given as the argument (its own test).
const ROOT = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..');
const SCANNED = ['src', 'test', 'scripts', 'bench', 'client', 'examples', 'migrations', 'docs'];
const EXTENSIONS = /\.(ts|mjs|js|md|toml|sql|dart|html)$/;
// Not after a letter, digit, `/`, `.`, `:` or `-`: a URL's path or another repository's path is not ours.
const PATH = /(?<![A-Za-z0-9_/.:-])((?:src|test|scripts|docs|bench|migrations|examples|client)\/[A-Za-z0-9_./-]*[A-Za-z0-9_])/g;

/** @param {string} dir @returns {string[]} */
function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'dist' ? [] : files(path);
    return EXTENSIONS.test(entry.name) ? [path] : [];
  });
}

const sources = [
  ...SCANNED.filter((dir) => existsSync(join(ROOT, dir))).flatMap((dir) => files(join(ROOT, dir))),
  ...['README.md', 'BENCHMARKS.md', 'wrangler.toml'].map((name) => join(ROOT, name)).filter((path) => existsSync(path)),
];
const missing = [];
/** A pointer a reader cannot follow; another project's issue is named by its URL. */
const UNSEEN = /\b(issues? #?\d+|seed \d{4,})/i;
for (const file of sources) {
  // A line may opt out (this check's own test names paths that must not exist).
  const text = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => !line.includes('check-paths: ignore'))
    .join('\n');
  if (!file.endsWith('BENCHMARKS.md')) {
    for (const [index, line] of text.split('\n').entries()) {
      const unseen = UNSEEN.exec(line)?.[1];
      if (unseen) missing.push(`${relative(ROOT, file)}:${index + 1}: names "${unseen}", which a reader cannot see`);
    }
  }
  for (const match of text.matchAll(PATH)) {
    const named = /** @type {string} */ (match[1]).replace(/[.]+$/, '');
    if (/[*{}<>]/.test(named) || named.includes('...')) continue;
    // An import specifier or a module path without its extension counts when a .ts/.mjs file exists.
    // An import without its extension counts, and so does a prefix of an existing name (migrations/0002).
    const candidates = [named, `${named}.ts`, `${named}.mjs`];
    if (candidates.some((candidate) => existsSync(join(ROOT, candidate)))) continue;
    const parent = join(ROOT, dirname(named));
    const base = named.split('/').pop() ?? '';
    if (existsSync(parent) && readdirSync(parent).some((name) => name.startsWith(base))) continue;
    missing.push(`${relative(ROOT, file)}: ${named}`);
  }
}
/** GitHub's heading anchors: lower case, punctuation but `_` and `-` dropped, spaces to hyphens. @param {string} heading */
const slug = (heading) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_ -]/gu, '')
    .replace(/ /g, '-');
/** A Markdown file's heading anchors, as GitHub makes them: outside code fences, a repeated one suffixed -1, -2… @param {string} file */
const anchors = (file) => {
  const seen = new Map();
  let fenced = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? undefined : /^#{1,6} +(.+?) *#*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading.trim());
    const count = seen.get(base) ?? 0;
    seen.set(count === 0 ? base : `${base}-${count}`, 0);
    seen.set(base, count + 1);
  }
  return new Set(seen.keys());
};
for (const file of sources.filter((path) => path.endsWith('.md'))) {
  for (const match of readFileSync(file, 'utf8').matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const link = /** @type {string} */ (match[1]);
    if (/^[a-z]+:/.test(link) || /[<>]/.test(link)) continue;
    const [target = '', anchor] = link.split('#');
    // A leading / is the repository's root, as GitHub reads it.
    const path = target === '' ? file : target.startsWith('/') ? join(ROOT, target) : join(dirname(file), target);
    if (!existsSync(path)) missing.push(`${relative(ROOT, file)}: link ${link}`);
    else if (anchor && path.endsWith('.md') && !anchors(path).has(anchor))
      missing.push(`${relative(ROOT, file)}: link ${link} (no such heading)`);
  }
}
if (missing.length > 0) {
  console.error(
    `paths named in comments or documents that do not exist, or pointers a reader cannot follow (${missing.length}):\n  ${missing.join('\n  ')}`,
  );
  process.exit(1);
}
console.log(`every path named in ${sources.length} files exists`);

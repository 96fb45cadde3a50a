// @ts-check
/**
 * What every script does with its command line: `--help` (or `-h`) prints the script's own header
 * comment, which is where each script already says what it does and how it is called, so the help
 * cannot drift from the file; an option the script does not know is one line naming it, then the
 * help, never Node's stack trace.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isMainModule } from './process.mjs';

/**
 * The leading comment of a script (after `#!` and `@ts-check`), without its comment markers.
 * @param {string} text the script's source
 */
export function headerComment(text) {
  const lines = text.split(/\r?\n/);
  let i = 0;
  while (i < lines.length && /^(#!|\/\/\s*@ts-check\s*$|\s*$)/.test(lines[i] ?? '')) i++;
  /** @type {string[]} */
  const out = [];
  if ((lines[i] ?? '').trimStart().startsWith('/**')) {
    for (; i < lines.length; i++) {
      const line = /** @type {string} */ (lines[i]);
      const end = line.includes('*/');
      const body = line
        .replace(/^\s*\/\*\*\s?/, '')
        .replace(/\s*\*\/\s*$/, '')
        .replace(/^\s*\*\s?/, '');
      if (body.trim() || out.length) out.push(body);
      if (end) break;
    }
  } else {
    for (; i < lines.length && /^\s*\/\//.test(lines[i] ?? ''); i++) out.push((lines[i] ?? '').replace(/^\s*\/\/ ?/, ''));
  }
  while (out.length && !out[out.length - 1]?.trim()) out.pop();
  return out.join('\n');
}

/**
 * When the script at `moduleUrl` is the one Node runs and its arguments ask for help: prints its
 * header comment and exits 0. Safe to call at the top of a module that others import (it then does nothing).
 * @param {string} moduleUrl the script's import.meta.url
 */
export function answerHelp(moduleUrl) {
  if (!isMainModule(moduleUrl)) return;
  if (!process.argv.slice(2).some((arg) => arg === '--help' || arg === '-h')) return;
  console.log(headerComment(readFileSync(fileURLToPath(moduleUrl), 'utf8')));
  process.exit(0);
}

/**
 * parseArgs for a script's main: answers `--help`, and turns a bad command line into one line and exit 2.
 * @template {import('node:util').ParseArgsConfig['options']} O
 * @param {string} moduleUrl the script's import.meta.url
 * @param {O} options
 * @param {{ allowPositionals?: boolean }} [config]
 */
export function parseCli(moduleUrl, options, config = {}) {
  answerHelp(moduleUrl);
  try {
    return parseArgs({ options, allowPositionals: config.allowPositionals ?? false, strict: true });
  } catch (error) {
    const name = fileURLToPath(moduleUrl).replace(/^.*[/\\]/, '');
    console.error(`${name}: ${error instanceof Error ? error.message : error} (--help lists the options)`);
    process.exit(2);
  }
}

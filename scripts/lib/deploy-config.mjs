// @ts-check
/**
 * What `npm run deploy` reads from a Wrangler configuration before it uploads anything, and the
 * configurations it refuses: pure functions of the file's text and the `--var` options, so each rule is
 * tested without an account.
 *
 * Refused, because such a Worker cannot work and would still answer some routes:
 * - `ALLOW_AUTH_EMULATOR = "true"`: the development-only switch that lets the Worker accept the Auth
 *   emulator's unsigned ID tokens;
 * - a `demo-` FIREBASE_PROJECT_ID checked against Google's real keys (FIREBASE_JWKS_URL at its default):
 *   Google never issues ID tokens for a `demo-` project, so every sign-in would be refused;
 * - STREAM_API_KEY `localdevkey` sent to Stream's real API (STREAM_BASE_URL at its default): the
 *   placeholder `npm start` gives its stand-in; Stream has no such app.
 * The TOML is read line by line (`KEY = "value"` in a table), which is all wrangler.toml uses for these.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The placeholder API key of `npm start`'s Stream stand-in, shipped in wrangler.toml. */
export const LOCAL_STREAM_API_KEY = 'localdevkey';

/**
 * The Worker's default for a URL setting, read from src/config/defaults.ts so the two cannot disagree.
 * @param {'FIREBASE_JWKS_URL' | 'STREAM_BASE_URL'} name
 */
export function defaultUrl(name) {
  const source = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'config', 'defaults.ts'), 'utf8');
  const match = new RegExp(`\\b${name}:\\s*'([^']+)'`).exec(source);
  if (!match?.[1]) throw new Error(`src/config/defaults.ts has no default for ${name}`);
  return match[1];
}

/**
 * The `key = "value"` (or a bare number or boolean) lines of one table, `[vars]` by default.
 * @param {string} toml
 * @param {string} [table]
 * @returns {Record<string, string>}
 */
export function tableValues(toml, table = 'vars') {
  /** @type {Record<string, string>} */
  const values = {};
  let inside = false;
  for (const line of toml.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed.startsWith('[')) {
      inside = trimmed === `[${table}]`;
      continue;
    }
    if (!inside) continue;
    const match = /^([A-Za-z0-9_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s#]+))/.exec(trimmed);
    if (match?.[1]) values[match[1]] = match[2] ?? match[3] ?? match[4] ?? '';
  }
  return values;
}

/**
 * The vars a deploy uploads: wrangler.toml's [vars], then each `--var NAME:VALUE` (as wrangler merges them).
 * @param {string} toml
 * @param {string[]} cliVars
 */
export function deployVars(toml, cliVars) {
  const vars = tableValues(toml);
  for (const pair of cliVars) {
    const colon = pair.indexOf(':');
    if (colon > 0) vars[pair.slice(0, colon)] = pair.slice(colon + 1);
  }
  return vars;
}

/**
 * Why these vars must not be uploaded: one line each, saying what to change; empty when none.
 * @param {Record<string, string>} vars
 * @returns {string[]}
 */
export function refusals(vars) {
  const out = [];
  if (vars.ALLOW_AUTH_EMULATOR === 'true') {
    out.push(
      'ALLOW_AUTH_EMULATOR = "true" lets the Worker accept the Auth emulator\'s unsigned ID tokens: it is for npm start and the tests only; remove it from the configuration',
    );
  }
  const jwks = vars.FIREBASE_JWKS_URL;
  if (vars.FIREBASE_PROJECT_ID?.startsWith('demo-') && (!jwks || jwks === defaultUrl('FIREBASE_JWKS_URL'))) {
    out.push(
      `FIREBASE_PROJECT_ID = "${vars.FIREBASE_PROJECT_ID}" is the local placeholder: Google never issues ID tokens for a demo- project; set your Firebase project id in [vars]`,
    );
  }
  const stream = vars.STREAM_BASE_URL;
  if (vars.STREAM_API_KEY === LOCAL_STREAM_API_KEY && (!stream || stream === defaultUrl('STREAM_BASE_URL'))) {
    out.push(
      `STREAM_API_KEY = "${LOCAL_STREAM_API_KEY}" is the local stand-in's placeholder: Stream has no such app; set your Stream app's API key in [vars]`,
    );
  }
  return out;
}

/**
 * The database_id of the `[[d1_databases]]` entry bound as `binding`, if set and not the all-zero placeholder.
 * @param {string} toml
 * @param {string} [binding]
 * @returns {{ name: string | undefined; id: string | undefined }}
 */
export function d1Database(toml, binding = 'DB') {
  for (const block of toml.split(/^\s*\[\[d1_databases\]\]\s*$/m).slice(1)) {
    const body = block.split(/^\s*\[/m)[0] ?? '';
    const values = tableValues(`[t]\n${body}`, 't');
    if (values.binding !== binding) continue;
    const id = values.database_id && !/^0{8}-0{4}-0{4}-0{4}-0{12}$/.test(values.database_id) ? values.database_id : undefined;
    return { name: values.database_name, id };
  }
  return { name: undefined, id: undefined };
}

#!/usr/bin/env node
// @ts-check
// Builds the bundle exactly as `wrangler deploy` would ship it (offline, --dry-run)
// and prints its size, raw and gzip. Fails if the build fails or the bundle
// outgrows the budget, so what would ship is always buildable.
//   node scripts/check-bundle.mjs [--parts]   --parts: what each part costs (esbuild's metafile of the
//                                             same entry: bytes each package or src/ folder leaves in the output)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { answerHelp } from './lib/cli.mjs';
import { isMainModule } from './lib/process.mjs';

answerHelp(import.meta.url);

// 40 KiB until this round; raised to 45 KiB when the deletion-events route, the streamed callable answer,
// signed cache entries and the near registry took the bundle to 42.6 KiB (BENCHMARKS.md, "Bundle").
const GZIP_BUDGET_BYTES = 45 * 1024;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * @param {string} outdir where wrangler writes the bundle
 * @param {{ config?: string; args?: string[] }} [options] config: the Wrangler configuration (default: the repository's);
 *   args: more `wrangler deploy` options (e.g. --var)
 * @returns {{ path: string; raw: number; gzip: number; output: string }} the bundle's path, its size in bytes, raw and
 *   gzipped, and what wrangler printed (the bindings it would deploy)
 */
export function buildBundle(outdir, options = {}) {
  // --config always: wrangler otherwise prefers a wrangler.json(c) in any parent folder over our wrangler.toml.
  const config = options.config ?? join(ROOT, 'wrangler.toml');
  const output = execFileSync(
    join(ROOT, 'node_modules', '.bin', 'wrangler'),
    ['deploy', '--dry-run', '--outdir', outdir, '--config', config, ...(options.args ?? [])],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    },
  );
  const file = readdirSync(outdir).find((name) => name.endsWith('.js'));
  if (!file) throw new Error(`wrangler wrote no .js file to ${outdir}`);
  const code = readFileSync(join(outdir, file));
  return { path: join(outdir, file), raw: code.length, gzip: gzipSync(code, { level: 9 }).length, output };
}

/**
 * Bytes each part leaves in the bundle (a package, or a folder or file of src/), from esbuild's metafile of
 * the Worker's entry built as wrangler builds it (ESM, workerd conditions, minified).
 * @returns {Promise<[string, number][]>} largest first
 */
export async function bundleParts() {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [join(ROOT, 'src', 'index.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    external: ['cloudflare:*', 'node:*'],
    write: false,
    minify: true, // as wrangler.toml asks
    metafile: true,
    logLevel: 'error',
  });
  /** @type {Map<string, number>} */
  const parts = new Map();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1];
      const src = /^src\/([^/]+\/|[^/]+$)/.exec(input)?.[1];
      const part = pkg ?? (src ? `src/${src}` : input);
      parts.set(part, (parts.get(part) ?? 0) + bytesInOutput);
    }
  }
  return [...parts].sort((a, b) => b[1] - a[1]);
}

if (isMainModule(import.meta.url)) {
  const outdir = mkdtempSync(join(tmpdir(), 'bundle-'));
  try {
    const { raw, gzip } = buildBundle(outdir);
    console.log(
      `bundle: ${(raw / 1024).toFixed(1)} KiB raw, ${(gzip / 1024).toFixed(1)} KiB gzip (budget ${GZIP_BUDGET_BYTES / 1024} KiB gzip)`,
    );
    if (process.argv.includes('--parts')) {
      const parts = await bundleParts();
      const total = parts.reduce((sum, [, bytes]) => sum + bytes, 0);
      console.log('| part | KiB in the minified bundle | share |\n|---|---:|---:|');
      for (const [part, bytes] of parts)
        console.log(`| ${part} | ${(bytes / 1024).toFixed(1)} | ${((bytes / total) * 100).toFixed(0)} % |`);
    }
    if (gzip > GZIP_BUDGET_BYTES) {
      console.error('bundle is over its gzip budget');
      process.exit(1);
    }
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

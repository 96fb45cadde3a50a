#!/usr/bin/env node
// @ts-check
// Builds the bundle exactly as `wrangler deploy` would ship it (offline, --dry-run)
// and prints its size, raw and gzip. Fails if the build fails or the bundle
// outgrows the budget, so what would ship is always buildable.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const GZIP_BUDGET_BYTES = 40 * 1024;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * @param {string} outdir where wrangler writes the bundle
 * @returns {{ path: string; raw: number; gzip: number }} the bundle's path and its size in bytes, raw and gzipped
 */
export function buildBundle(outdir) {
  // --config always: wrangler otherwise prefers a wrangler.json(c) in any parent folder over our wrangler.toml.
  execFileSync(join(ROOT, 'node_modules', '.bin', 'wrangler'), ['deploy', '--dry-run', '--outdir', outdir, '--config', join(ROOT, 'wrangler.toml')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  const file = readdirSync(outdir).find((name) => name.endsWith('.js'));
  if (!file) throw new Error(`wrangler wrote no .js file to ${outdir}`);
  const code = readFileSync(join(outdir, file));
  return { path: join(outdir, file), raw: code.length, gzip: gzipSync(code, { level: 9 }).length };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const outdir = mkdtempSync(join(tmpdir(), 'bundle-'));
  try {
    const { raw, gzip } = buildBundle(outdir);
    console.log(`bundle: ${(raw / 1024).toFixed(1)} KiB raw, ${(gzip / 1024).toFixed(1)} KiB gzip (budget ${GZIP_BUDGET_BYTES / 1024} KiB gzip)`);
    if (gzip > GZIP_BUDGET_BYTES) {
      console.error('bundle is over its gzip budget');
      process.exit(1);
    }
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

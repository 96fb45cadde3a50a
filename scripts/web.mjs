#!/usr/bin/env node
// @ts-check
// The web example: `npm run web` builds examples/web and serves it on
// http://127.0.0.1:5173 (use it next to `npm start`). `buildWeb`/`serveWeb`
// are also used by the browser test.
import { createServer } from 'node:http';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { isMainModule, listenOnLoopback } from './lib/process.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = join(ROOT, 'examples', 'web');

/**
 * Bundles examples/web into `outdir`.
 * @param {string} [outdir]
 * @returns {Promise<string>} outdir
 */
export async function buildWeb(outdir = join(SOURCE, 'dist')) {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: [join(SOURCE, 'src', 'main.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    outfile: join(outdir, 'main.js'),
    logLevel: 'warning',
  });
  copyFileSync(join(SOURCE, 'index.html'), join(outdir, 'index.html'));
  return outdir;
}

/** @type {Record<string, string>} */
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

/**
 * Serves `dir` on 127.0.0.1; resolves to its URL and a close function.
 * @param {string} dir
 * @param {number} [port] 0: a free one
 * @returns {Promise<{ url: string; close: () => Promise<void> }>}
 */
export async function serveWeb(dir, port = 0) {
  const server = createServer((req, res) => {
    const path = normalize(new URL(req.url ?? '/', 'http://x').pathname).replace(/^(\.\.[/\\])+/, '');
    const file = join(dir, path === '/' ? 'index.html' : path);
    try {
      const body = readFileSync(file);
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  return listenOnLoopback(server, port);
}

if (isMainModule(import.meta.url)) {
  const dir = await buildWeb();
  const { url } = await serveWeb(dir, Number(process.env.WEB_PORT ?? 5173));
  console.log(`Web example: ${url}/  (expects npm start's Worker on http://127.0.0.1:8787 and Auth emulator on :9099)`);
  console.log(`Against a deployed Worker: ${url}/?worker=https://<worker>&authEmulator=&projectId=<firebase project>&firebaseApiKey=<web api key>`);
}

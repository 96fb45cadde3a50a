#!/usr/bin/env node
// @ts-check
// The web example: `npm run web` builds examples/web and serves it on
// http://127.0.0.1:5173 (WEB_PORT changes the port; npm start allows only 5173
// as an origin). While `npm start` runs, it prints the page's URL with that
// run's settings: its Worker, Auth emulator and project, and its Stream app
// (the stand-in, or your real app's key), so the page connects Stream's
// official client with no more setup. `buildWeb`/`serveWeb`/`pageQuery`
// are also used by the browser test.
//
//   npm run web
import { createServer } from 'node:http';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { answerHelp } from './lib/cli.mjs';
import { isMainModule, listenOnLoopback, stopAllOnSignals } from './lib/process.mjs';
import { readLocalRun } from './lib/run-file.mjs';

answerHelp(import.meta.url);

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

/**
 * The page's query string for a local run (examples/web/src/main.ts reads it): the Worker, the Auth
 * emulator and project, and the Stream app the client connects to (`stream`: the stand-in's URL; absent: Stream).
 * @param {Pick<import('./lib/run-file.mjs').LocalRun, 'workerUrl' | 'emulatorHost' | 'projectId' | 'streamApiKey' | 'stream'>} run
 */
export function pageQuery(run) {
  const query = new URLSearchParams({
    worker: run.workerUrl,
    authEmulator: `http://${run.emulatorHost}`,
    projectId: run.projectId,
    streamKey: run.streamApiKey,
  });
  if (run.stream) query.set('stream', run.stream.baseUrl);
  return query;
}

if (isMainModule(import.meta.url)) {
  stopAllOnSignals();
  const dir = await buildWeb();
  const { url } = await serveWeb(dir, Number(process.env.WEB_PORT ?? 5173));
  const run = readLocalRun();
  if (run) {
    console.log(
      `Web example, connected to the npm start running now (${run.stream ? 'its Stream stand-in' : 'your Stream app'}):\n  ${url}/?${pageQuery(run)}`,
    );
  } else {
    console.log(`Web example: ${url}/  (npm start is not running: start it, then open the URL npm run web prints)`);
  }
  console.log(
    `Against a deployed Worker: ${url}/?worker=https://<worker>&authEmulator=&projectId=<firebase project>&firebaseApiKey=<web api key>&streamKey=<Stream API key>`,
  );
}

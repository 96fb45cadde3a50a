#!/usr/bin/env node
// Fails when a locked package declares a Node engine that the Node versions
// this project promises (package.json "engines", stated in the README) do not
// satisfy — the mismatch `npm ci` prints as EBADENGINE and a newcomer reads
// as trouble. Every version the promised range admits must be one
// each package accepts (semver.subset), and so must the Node running it.
//
//   node scripts/check-engines.mjs [--lock package-lock.json]
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import semver from 'semver';
import { isMainModule } from './lib/process.mjs';
import { answerHelp } from './lib/cli.mjs';

answerHelp(import.meta.url);

/**
 * @param {{ packages?: Record<string, { version?: string, optional?: boolean, os?: string[], engines?: { node?: string } }> }} lock
 * @param {string} promised package.json's engines.node
 * @param {string} running the Node version running the check
 */
export function engineMismatches(lock, promised, running) {
  if (!semver.validRange(promised)) throw new Error(`package.json engines.node is not a range: ${promised}`);
  const found = [];
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    const wanted = entry.engines?.node;
    // Optional platform binaries for other systems are never installed here.
    if (!path || !wanted || (entry.optional && entry.os)) continue;
    const name = path.replace(/^.*node_modules\//, '');
    // A range semver cannot read is one npm cannot check either: reported, not a crash.
    if (typeof wanted !== 'string' || !semver.validRange(wanted)) {
      found.push({ package: name, version: entry.version, wants: String(wanted), node: promised });
      continue;
    }
    // Every Node the project promises must be one the package accepts, and so must the Node running this.
    if (!semver.subset(promised, wanted)) found.push({ package: name, version: entry.version, wants: wanted, node: promised });
    else if (!semver.satisfies(running, wanted, { includePrerelease: true }))
      found.push({ package: name, version: entry.version, wants: wanted, node: running });
  }
  return found;
}

if (isMainModule(import.meta.url)) {
  const lockArg = process.argv.indexOf('--lock');
  const lockPath = resolve((lockArg > 0 && process.argv[lockArg + 1]) || 'package-lock.json');
  const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
  const promised = JSON.parse(readFileSync(resolve('package.json'), 'utf8')).engines?.node;
  const found = engineMismatches(lock, promised, process.versions.node);
  if (found.length > 0) {
    for (const f of found)
      console.error(`${f.package}@${f.version} wants Node ${f.wants}; this project promises ${promised} (checked ${f.node})`);
    console.error(`check-engines: ${found.length} locked package(s) disagree with engines.node`);
    process.exit(1);
  }
  console.log(`check-engines: every locked package accepts every Node ${promised} admits, and ${process.versions.node} (running)`);
}

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { headerComment } from '../../scripts/lib/cli.mjs';

// Every script answers --help with what it does and how it is called (its header comment), and does
// nothing else; the scripts that take options answer an unknown one with one line, never a stack trace.

const root = resolve(import.meta.dirname, '../..');
const scripts = [
  ...readdirSync(join(root, 'scripts'))
    .filter((name) => name.endsWith('.mjs'))
    .map((name) => `scripts/${name}`),
  ...readdirSync(join(root, 'bench'))
    .filter((name) => name.endsWith('.mjs'))
    .map((name) => `bench/${name}`),
];
// Each `node <file>` that package.json's scripts run is among them.
const npmScripts = Object.values(
  (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts,
).flatMap((command) => [...command.matchAll(/\bnode ((?:scripts|bench)\/[\w.-]+\.mjs)/g)].map((match) => match[1]!));

type Result = { status: number | null; stdout: string; stderr: string };
const run = (file: string, args: string[]) =>
  new Promise<Result>((done) => {
    const child = spawn(process.execPath, [file, ...args], {
      cwd: root,
      timeout: 60_000,
      env: { ...process.env, ADMIN_TOKEN: '', DOCTOR_URL: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });

// Most of the time is Node loading each script's imports: run them a few at a time, up front.
const unknownOption = [
  'scripts/doctor.mjs',
  'scripts/status.mjs',
  'scripts/start.mjs',
  'scripts/demo.mjs',
  'scripts/deploy.mjs',
  'scripts/import-users.mjs',
  'scripts/sim.mjs',
  'scripts/ensure-d1-database.mjs',
];
const results = new Map<string, Result>();
beforeAll(async () => {
  const jobs = [...scripts.map((file) => [file, '--help']), ...unknownOption.map((file) => [file, '--no-such-option'])] as [
    string,
    string,
  ][];
  const next = async (): Promise<void> => {
    const job = jobs.shift();
    if (!job) return;
    results.set(job.join(' '), await run(job[0], [job[1]]));
    return next();
  };
  await Promise.all([next(), next(), next(), next()]);
});

it('covers every script package.json runs', () => {
  expect(npmScripts.length).toBeGreaterThan(10);
  for (const file of npmScripts) expect(scripts).toContain(file);
});

describe.each(scripts)('%s', (file) => {
  it('answers --help with its header comment, exit 0, and does nothing else', () => {
    const header = headerComment(readFileSync(join(root, file), 'utf8'));
    expect(header.length, `${file} has no header comment`).toBeGreaterThan(40);
    const { status, stdout, stderr } = results.get(`${file} --help`)!;
    expect(status, stderr).toBe(0);
    expect(stdout.trim()).toBe(header.trim());
    expect(stderr).toBe('');
  });
});

describe.each(unknownOption)('%s', (file) => {
  it('refuses an unknown option in one line, exit 2', () => {
    const { status, stdout, stderr } = results.get(`${file} --no-such-option`)!;
    expect(status).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/Unknown option '--no-such-option' \(--help lists the options\)$/)]);
  });
});

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenOnLoopback } from '../../scripts/lib/process.mjs';
import { refusals } from '../../scripts/lib/deploy-config.mjs';

// `npm run deploy` (scripts/deploy.mjs) without a Cloudflare account: the dry run, the configurations it
// refuses before uploading, the one line without an account, and the whole sequence against stand-ins for
// wrangler (WRANGLER_BIN) and Cloudflare's REST API (CLOUDFLARE_API_BASE_URL).

const root = resolve(import.meta.dirname, '../..');
const realConfig = readFileSync(join(root, 'wrangler.toml'), 'utf8');
const scratch = mkdtempSync(join(tmpdir(), 'deploy-script-test-'));
const emptyHome = mkdtempSync(join(scratch, 'home-')); // no `wrangler login` in it
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const baseEnv: NodeJS.ProcessEnv = {
  ...process.env,
  CI: 'true',
  WRANGLER_SEND_METRICS: 'false',
  HOME: emptyHome,
  XDG_CONFIG_HOME: join(emptyHome, '.config'),
};
for (const name of ['CLOUDFLARE_API_TOKEN', 'CLOUDFLARE_ACCOUNT_ID', 'CLOUDFLARE_API_BASE_URL', 'WRANGLER_BIN']) delete baseEnv[name];

/** wrangler.toml with `vars` changed (undefined: the line removed) and paths made absolute, in a folder of its own. */
function config(vars: Record<string, string | undefined>, extra = ''): string {
  let text = realConfig.replace(
    /^(main|migrations_dir)(\s*=\s*)"([^"]+)"/gm,
    (_, key: string, eq: string, path: string) => `${key}${eq}${JSON.stringify(resolve(root, path))}`,
  );
  for (const [name, value] of Object.entries(vars)) {
    const line = new RegExp(`^${name}\\s*=.*\\n`, 'm');
    const replacement = value === undefined ? '' : `${name} = ${JSON.stringify(value)}\n`;
    text = line.test(text) ? text.replace(line, replacement) : text.replace(/^\[vars\]\n/m, `[vars]\n${replacement}`);
  }
  const path = join(mkdtempSync(join(scratch, 'config-')), 'wrangler.toml');
  writeFileSync(path, text + extra);
  return path;
}
const GOOD = { FIREBASE_PROJECT_ID: 'my-firebase-project', STREAM_API_KEY: 'abcd1234efgh' };

function deploy(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ['scripts/deploy.mjs', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...baseEnv, ...env },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, output: `${result.stdout}\n${result.stderr}` };
}

/** Node prints a stack trace as "    at fn (file:line)" lines. */
const STACK = /^\s+at .+[:(]/m;

// A stand-in for the wrangler commands deploy runs: records each call, keeps D1 databases in a JSON file.
const fakeDir = mkdtempSync(join(scratch, 'fake-wrangler-'));
const calls = join(fakeDir, 'calls.log');
const databases = join(fakeDir, 'databases.json');
const fakeWrangler = join(fakeDir, 'wrangler.mjs');
writeFileSync(
  fakeWrangler,
  `import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
const args = process.argv.slice(2).filter((arg, i, all) => arg !== '--config' && all[i - 1] !== '--config');
appendFileSync(${JSON.stringify(calls)}, args.join(' ') + '\\n');
const dbs = existsSync(${JSON.stringify(databases)}) ? JSON.parse(readFileSync(${JSON.stringify(databases)}, 'utf8')) : [];
const [group, command, name] = args;
if (group === 'whoami') console.log('You are logged in with an OAuth Token.');
else if (group === 'secret' && command === 'list') console.log(JSON.stringify([{ name: 'STREAM_API_SECRET', type: 'secret_text' }]));
else if (group === 'd1' && command === 'list') console.log(JSON.stringify(dbs));
else if (group === 'd1' && command === 'create') {
  dbs.push({ name, uuid: 'abcdef01-2345-6789-abcd-ef0123456789' });
  writeFileSync(${JSON.stringify(databases)}, JSON.stringify(dbs));
} else if (group === 'd1' && command === 'migrations') console.log('migrations applied');
else if (group === 'deploy') console.log(process.env.FAKE_DEPLOY_FAILS ? 'boom' : 'Deployed stream-token-edge');
else process.exit(3);
process.exit(group === 'deploy' && process.env.FAKE_DEPLOY_FAILS ? 1 : 0);
`,
);
const recordedCalls = () => {
  try {
    return readFileSync(calls, 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};
const reset = () => {
  rmSync(calls, { force: true });
  rmSync(databases, { force: true });
};

describe('npm run deploy -- --dry-run', () => {
  it('exits 0 without an account and shows the bindings, vars, missing secrets and bundle size', () => {
    const { status, stdout, output } = deploy(['--dry-run', '--config', config(GOOD)]);
    expect(status, output).toBe(0);
    expect(stdout).toMatch(/env\.DB \(stream-token-edge\)\s+D1 Database/);
    expect(stdout).toContain('env.FIREBASE_PROJECT_ID ("my-firebase-project")');
    expect(stdout).toMatch(/STREAM_API_SECRET .*not checked/);
    expect(stdout).toMatch(/Bundle: \d+\.\d KiB, \d+\.\d KiB gzip/);
    expect(stdout).toContain('nothing was uploaded');
    expect(output).not.toMatch(STACK);
  });

  it('exits 1 and names the placeholders of the shipped wrangler.toml', () => {
    const { status, output } = deploy(['--dry-run']);
    expect(status, output).toBe(1);
    expect(output).toContain('would refuse');
    expect(output).toContain('FIREBASE_PROJECT_ID = "demo-stream-token-edge"');
    expect(output).toContain('STREAM_API_KEY = "localdevkey"');
    expect(output).not.toMatch(STACK);
  });
});

describe('npm run deploy refuses, before uploading anything', () => {
  const cases: [string, string, string[]][] = [
    ['ALLOW_AUTH_EMULATOR = "true" in [vars]', config({ ...GOOD, ALLOW_AUTH_EMULATOR: 'true' }), []],
    ['ALLOW_AUTH_EMULATOR:true given with --var', config(GOOD), ['--var', 'ALLOW_AUTH_EMULATOR:true']],
    ["a demo- project id against Google's keys", config({ ...GOOD, FIREBASE_PROJECT_ID: 'demo-my-app' }), []],
    [
      'a demo- project id with FIREBASE_JWKS_URL spelled at its default',
      config({
        ...GOOD,
        FIREBASE_PROJECT_ID: 'demo-my-app',
        FIREBASE_JWKS_URL: 'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com',
      }),
      [],
    ],
    ['the localdevkey placeholder against Stream', config({ ...GOOD, STREAM_API_KEY: 'localdevkey' }), []],
  ];
  it.each(cases)('%s', (_, path, args) => {
    reset();
    const { status, output } = deploy(['--config', path, ...args], { WRANGLER_BIN: fakeWrangler, CLOUDFLARE_API_TOKEN: 'token' });
    expect(status, output).toBe(1);
    expect(output).toContain('npm run deploy refuses');
    expect(output).toMatch(/ALLOW_AUTH_EMULATOR|FIREBASE_PROJECT_ID|STREAM_API_KEY/);
    expect(output).not.toMatch(STACK);
    expect(recordedCalls()).toEqual([]); // not even the D1 lookup ran
  });

  it('accepts the placeholders where they cannot reach Google or Stream (other key and API addresses)', () => {
    const vars = {
      FIREBASE_PROJECT_ID: 'demo-x',
      FIREBASE_JWKS_URL: 'http://127.0.0.1:9/keys',
      STREAM_API_KEY: 'localdevkey',
      STREAM_BASE_URL: 'http://127.0.0.1:9',
    };
    expect(refusals(vars)).toEqual([]);
    expect(refusals({ ...vars, ALLOW_AUTH_EMULATOR: 'false' })).toEqual([]);
    expect(refusals({ ...vars, ALLOW_AUTH_EMULATOR: 'true' })).toHaveLength(1);
  });
});

it('without an account: one line, no stack trace, nothing run', () => {
  const { status, output } = deploy(['--config', config(GOOD)]);
  expect(status, output).toBe(1);
  const lines = output.split('\n').filter((line) => line.trim());
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^npm run deploy: no Cloudflare account: run `npx wrangler login`, or set CLOUDFLARE_API_TOKEN/);
});

describe('the whole deploy against stand-ins', () => {
  const requests: { method: string; url: string; authorization: string | undefined; body: string }[] = [];
  let answer = { status: 200, body: { success: true, result: { read_replication: { mode: 'auto' } } } as unknown };
  let api: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    const read = async (req: IncomingMessage) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      return body;
    };
    api = await listenOnLoopback(
      createServer(async (req, res) => {
        requests.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, body: await read(req) });
        if (req.url === '/client/v4/accounts')
          return res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ success: true, result: [{ id: 'only-account' }] }));
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
      }),
    );
  });
  afterAll(() => api?.close());
  // spawnSync would block the stand-in's event loop: run the script asynchronously.
  const deployAsync = (path: string, env: Record<string, string>) =>
    new Promise<{ status: number | null; output: string }>((done) => {
      const child = spawn(process.execPath, ['scripts/deploy.mjs', '--config', path], {
        cwd: root,
        env: { ...baseEnv, WRANGLER_BIN: fakeWrangler, CLOUDFLARE_API_BASE_URL: `${api.url}/client/v4`, ...env },
      });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      child.on('exit', (status) => done({ status, output }));
    });

  it('creates the database, migrates, deploys, then turns on read replication with the API token', async () => {
    reset();
    requests.length = 0;
    answer = { status: 200, body: { success: true, result: {} } };
    const path = config(GOOD);
    const { status, output } = await deployAsync(path, { CLOUDFLARE_API_TOKEN: 'cf-token', CLOUDFLARE_ACCOUNT_ID: 'acc-1' });
    expect(status, output).toBe(0);
    expect(recordedCalls()).toEqual([
      'secret list --format json',
      'd1 list --json',
      'd1 create stream-token-edge',
      'd1 list --json',
      'd1 migrations apply DB --remote',
      'deploy',
    ]);
    expect(readFileSync(path, 'utf8')).toContain('database_id = "abcdef01-2345-6789-abcd-ef0123456789"');
    expect(requests).toEqual([
      {
        method: 'PUT',
        url: '/client/v4/accounts/acc-1/d1/database/abcdef01-2345-6789-abcd-ef0123456789',
        authorization: 'Bearer cf-token',
        body: '{"read_replication":{"mode":"auto"}}',
      },
    ]);
    expect(output).toContain('D1 read replication is on');
    expect(output).not.toContain('Read replication → Enable');
  });

  it('finds the account when the token sees exactly one', async () => {
    reset();
    requests.length = 0;
    const { status, output } = await deployAsync(config(GOOD), { CLOUDFLARE_API_TOKEN: 'cf-token' });
    expect(status, output).toBe(0);
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /client/v4/accounts',
      'PUT /client/v4/accounts/only-account/d1/database/abcdef01-2345-6789-abcd-ef0123456789',
    ]);
  });

  it('prints the dashboard step when the token may not edit D1 (403), and the deploy still succeeds', async () => {
    reset();
    requests.length = 0;
    answer = { status: 403, body: { success: false, errors: [{ code: 10000, message: 'Authentication error' }] } };
    const { status, output } = await deployAsync(config(GOOD), { CLOUDFLARE_API_TOKEN: 'cf-token', CLOUDFLARE_ACCOUNT_ID: 'acc-1' });
    expect(status, output).toBe(0);
    expect(requests).toHaveLength(1);
    expect(output).toContain('HTTP 403');
    expect(output).toContain('D1 → the database "stream-token-edge" → Settings → Read replication → Enable');
  });

  it('prints the dashboard step without an API token (wrangler login), calling no API', async () => {
    reset();
    requests.length = 0;
    const { status, output } = await deployAsync(config(GOOD), {});
    expect(status, output).toBe(0);
    expect(requests).toEqual([]);
    expect(output).toContain('no CLOUDFLARE_API_TOKEN');
    expect(output).toContain('Settings → Read replication → Enable');
  });

  it('stops at the failing step in one line, and does not touch replication', async () => {
    reset();
    requests.length = 0;
    const { status, output } = await deployAsync(config(GOOD), {
      CLOUDFLARE_API_TOKEN: 'cf-token',
      CLOUDFLARE_ACCOUNT_ID: 'acc-1',
      FAKE_DEPLOY_FAILS: '1',
    });
    expect(status).toBe(1);
    expect(output).toContain('npm run deploy: stopped at step 3, wrangler deploy');
    expect(output).not.toMatch(STACK);
    expect(requests).toEqual([]);
  });
});

/**
 * The composition root (src/index.ts): each handler called directly, and the
 * Worker reached through `exports.default` as the runtime would.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker, { build } from '../src/index';
import { captureConsole } from './support/console';
import { callWorker, Scenario } from './support/fixtures';

describe('through exports.default', () => {
  it('serves /healthz with wrangler.toml bindings', async () => {
    const response = await exports.default.fetch(new Request('http://localhost/healthz'));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('answers an unknown path with a 404 problem', async () => {
    const response = await exports.default.fetch(new Request('http://localhost/nope', { method: 'POST' }));
    expect(response.status).toBe(404);
    expect(response.headers.get('Content-Type')).toBe('application/problem+json');
  });
});

describe('build', () => {
  it("finds everything built at isolate start-up for an env with the module env's very bindings, and builds anew otherwise", () => {
    // The runtime hands each request an env object of its own, with the same bindings as `cloudflare:workers`' env.
    const startup = build({ ...env });
    expect(build({ ...env })).toBe(startup);
    expect(startup.config.streamApiSecret).toBe(env.STREAM_API_SECRET);
    const changed = build({ ...env, STREAM_TOKEN_TTL_SECONDS: '60' });
    expect(changed).not.toBe(startup);
    expect(changed.config.streamTokenTtlSeconds).toBe(60);
    const fewer: Record<string, unknown> = { ...env };
    delete fewer.STREAM_API_SECRET;
    expect(() => build(fewer as unknown as typeof env)).toThrow(/STREAM_API_SECRET/);
  });

  it('builds once per env object and logs configuration warnings once', async () => {
    const scenario = await Scenario.create();
    const bindings = scenario.env({ FIREBASE_AUTH_EMULATOR_HOST: 'emulator.example.com:9099' });
    const log = captureConsole();
    try {
      const first = build(bindings);
      expect(build(bindings)).toBe(first);
      expect(build({ ...bindings })).not.toBe(first);
    } finally {
      log.restore();
    }
    expect(log.lines.filter((line) => line.includes('emulator_mode_refused'))).toHaveLength(2);
  });

  it('turns reconciliation off, with the reason, without a DB or a way to ask Firebase', async () => {
    const scenario = await Scenario.create();
    expect(build(scenario.env()).reconciliation).toEqual({ on: false, reason: 'no D1 binding "DB"' });
    expect(build(scenario.env({ DB: env.DB })).reconciliation).toEqual({
      on: false,
      reason: 'neither GOOGLE_SERVICE_ACCOUNT nor FIREBASE_AUTH_EMULATOR_HOST is set',
    });
    expect(build(scenario.env({ DB: env.DB, FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099' })).reconciliation.on).toBe(true);
  });

  it('does not cache a configuration error: a fixed setting takes effect on the next request', async () => {
    const scenario = await Scenario.create();
    const bindings = scenario.env({ STREAM_API_SECRET: '' });
    const log = captureConsole();
    let first: Response;
    try {
      first = await callWorker(bindings, '/healthz', { method: 'GET' });
    } finally {
      log.restore();
    }
    expect(await first.json()).toEqual({ status: 'misconfigured', settings: ['STREAM_API_SECRET'] });
    bindings.STREAM_API_SECRET = scenario.streamSecret;
    expect(await (await callWorker(bindings, '/healthz', { method: 'GET' })).json()).toEqual({ status: 'ok' });
  });
});

describe('scheduled handler', () => {
  it('logs why reconciliation is skipped when it is off', async () => {
    const scenario = await Scenario.create();
    const log = captureConsole();
    try {
      const ctx = createExecutionContext();
      await worker.scheduled!(createScheduledController({ scheduledTime: Date.now(), cron: '*/15 * * * *' }), scenario.env(), ctx);
      await waitOnExecutionContext(ctx);
    } finally {
      log.restore();
    }
    expect(log.lines.some((line) => line.includes('reconcile_skipped') && line.includes('no D1 binding'))).toBe(true);
  });

  it('fails the run on a configuration error', async () => {
    const ctx = createExecutionContext();
    const run = worker.scheduled!(
      createScheduledController({ scheduledTime: Date.now(), cron: '*/15 * * * *' }),
      { FIREBASE_PROJECT_ID: 'x' },
      ctx,
    );
    await expect(run).rejects.toThrow(/STREAM_API_KEY/);
  });
});

/**
 * Metrics (src/platform/metrics.ts) through the Worker: data points with the METRICS binding, nothing
 * without it, and never a token, uid or email in one.
 */
import { describe, expect, it } from 'vitest';
import { MAX_POINTS_PER_INVOCATION, Metrics } from '../../src/platform/metrics';
import { captureConsole } from '../support/console';
import { callable, callWorker, makeSigningKey, mintIdToken, Scenario } from '../support/fixtures';
import { clearRegistry, productionEnv, register, registerAlive, runCron } from '../support/reconcile';

/** A stand-in for an Analytics Engine dataset that keeps what is written. */
function dataset() {
  const points: AnalyticsEngineDataPoint[] = [];
  return { points, binding: { writeDataPoint: (point?: AnalyticsEngineDataPoint) => void points.push(point!) } as AnalyticsEngineDataset };
}

/** A dataset that refuses writes as Analytics Engine does when it is broken or full: from the `after`+1st write on. */
function throwingDataset(after = 0) {
  let writes = 0;
  const binding = {
    writeDataPoint: () => {
      if (++writes > after) throw new Error('Analytics Engine: too many data points');
    },
  } as AnalyticsEngineDataset;
  return { binding, writes: () => writes };
}

describe('metrics (METRICS)', () => {
  it('one data point per answer and per Stream call, with route, protocol, status and code; no uid, token or email', async () => {
    const scenario = await Scenario.create();
    const key = await makeSigningKey();
    await scenario.setGoogle({ keys: [key] });
    const { points, binding } = dataset();
    const env = scenario.env({ METRICS: binding });
    const uid = 'metrics-user-7f3a';
    const idToken = await mintIdToken(key, uid, { claims: { email: 'ada@example.com', name: 'Ada' } });
    const created = await callWorker(env, '/v1/users/me', { idToken });
    const token = ((await created.json()) as { token: string }).token;
    await callable(env, 'getStreamUserToken', 'not-a-token');
    await callWorker(env, '/v1/users/someone-else', {});

    const answers = points.filter((p) => p.indexes?.[0] === 'answer');
    expect(answers.map((p) => [p.blobs?.[0], p.blobs?.[1], p.doubles?.[0], p.blobs?.[2]])).toEqual([
      ['/v1/users/me', 'rest', 200, ''],
      ['/getStreamUserToken', 'callable', 401, 'invalid_token'],
      ['other', 'rest', 404, 'not_found'],
    ]);
    const calls = points.filter((p) => p.indexes?.[0] === 'stream_call');
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) expect(call.doubles?.[0]).toBeGreaterThanOrEqual(200);
    const everything = JSON.stringify(points);
    for (const secret of [uid, token, idToken, 'ada@example.com', 'Ada']) expect(everything).not.toContain(secret);
  });

  it('one data point per reconciliation run', async () => {
    await clearRegistry();
    const scenario = await Scenario.create();
    const { points, binding } = dataset();
    const env = await productionEnv(scenario, { METRICS: binding });
    await registerAlive(['here']);
    await register(['gone']);
    await scenario.setGoogleAdmin({ existing: ['here'] });
    await runCron(env);
    const runs = points.filter((p) => p.indexes?.[0] === 'reconcile');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ blobs: ['inline'], doubles: [2, expect.any(Number), 0, expect.any(Number), expect.any(Number)] });
  });

  it('without the binding: nothing written, the answers unchanged', async () => {
    const scenario = await Scenario.create();
    const key = await makeSigningKey();
    await scenario.setGoogle({ keys: [key] });
    const response = await callWorker(scenario.env({ METRICS: undefined }), '/v1/token', { idToken: await mintIdToken(key, 'plain') });
    expect(response.status).toBe(200);
  });

  for (const after of [0, 1]) {
    it(`a dataset that throws ${after === 0 ? 'on every write' : `after ${after} write`} changes no answer: tokens issued, users created`, async () => {
      const scenario = await Scenario.create();
      const key = await makeSigningKey();
      await scenario.setGoogle({ keys: [key] });
      const dataset = throwingDataset(after);
      const env = scenario.env({ METRICS: dataset.binding });
      const logs = captureConsole();
      try {
        const uid = `metrics-broken-${after}`;
        const created = await callWorker(env, '/v1/users/me', { idToken: await mintIdToken(key, uid) });
        expect(created.status).toBe(200);
        expect(await created.json()).toMatchObject({ token: expect.any(String), user_id: uid });
        expect((await scenario.streamUsers()).users.map((user) => user.id)).toEqual([uid]);
        const token = await callWorker(env, '/v1/token', { idToken: await mintIdToken(key, uid) });
        expect(token.status).toBe(200);
        expect(await token.json()).toMatchObject({ token: expect.any(String) });
        const viaCallable = await callable(env, 'getStreamUserToken', await mintIdToken(key, uid));
        expect(viaCallable.status).toBe(200);
        // A throwing listener is not a network failure: no Stream call was retried.
        expect(logs.lines.filter((line) => line.includes('stream_call_retry'))).toEqual([]);
        expect(dataset.writes()).toBeGreaterThan(after);
        expect(logs.lines.filter((line) => line.includes('"event":"metrics_dropped"')).length).toBeGreaterThan(0);
      } finally {
        logs.restore();
      }
    });
  }
});

describe('Metrics: the per-invocation cap', () => {
  it(`writes at most ${MAX_POINTS_PER_INVOCATION} points per invocation, keeps room for the summing-up points, counts the rest; the next invocation starts afresh`, async () => {
    let written = 0;
    const metrics = new Metrics({ writeDataPoint: () => void written++ } as AnalyticsEngineDataset);
    const logs = captureConsole();
    try {
      await metrics.invocation(async () => {
        for (let i = 0; i < 300; i++) {
          metrics.streamCall('deleteUsers', 200, 10);
          if (i % 50 === 0) await Promise.resolve(); // across awaits, as a run makes its calls
        }
        metrics.reconcileRun({ mode: 'inline', checked: 1, deleted: 1, braked: 0, failed: 0, deferred: 0 });
      });
      // The per-call points stop 10 short of the cap; the run's totals still fit.
      expect(written).toBe(MAX_POINTS_PER_INVOCATION - 10 + 1);
      expect(metrics.dropped).toBe(301 - written);
      expect(logs.lines.filter((line) => line.includes('"event":"metrics_dropped"'))).toHaveLength(1); // once per invocation, not per point
      const before = written;
      metrics.invocation(() => metrics.answer('/v1/token', 'rest', 200, '', ''));
      expect(written).toBe(before + 1);
    } finally {
      logs.restore();
    }
  });

  it('the summing-up point of a run is written even when its calls used up their share', async () => {
    const kinds: string[] = [];
    const metrics = new Metrics({
      writeDataPoint: (point?: AnalyticsEngineDataPoint) => void kinds.push(String(point?.indexes?.[0])),
    } as AnalyticsEngineDataset);
    const logs = captureConsole();
    try {
      metrics.invocation(() => {
        for (let i = 0; i < 500; i++) metrics.streamCall('getTask', 200, undefined);
        metrics.reconcileRun({ mode: 'queue', checked: 1, deleted: 0, braked: 0, failed: 0, deferred: 0 });
      });
    } finally {
      logs.restore();
    }
    expect(kinds.at(-1)).toBe('reconcile');
  });

  it('never throws, whatever the dataset does', () => {
    const metrics = new Metrics({
      writeDataPoint: () => {
        throw new TypeError('boom');
      },
    } as unknown as AnalyticsEngineDataset);
    const logs = captureConsole();
    try {
      expect(() => metrics.invocation(() => metrics.answer('/v1/token', 'rest', 200, '', ''))).not.toThrow();
      expect(() => metrics.streamCall('x', 0, undefined)).not.toThrow();
      expect(metrics.dropped).toBe(2);
    } finally {
      logs.restore();
    }
  });
});

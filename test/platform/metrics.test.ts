/**
 * Metrics (src/platform/metrics.ts) through the Worker: data points with the METRICS binding, nothing
 * without it, and never a token, uid or email in one.
 */
import { describe, expect, it } from 'vitest';
import { callable, callWorker, makeSigningKey, mintIdToken, Scenario } from '../support/fixtures';
import { clearRegistry, productionEnv, register, registerAlive, runCron } from '../support/reconcile';

/** A stand-in for an Analytics Engine dataset that keeps what is written. */
function dataset() {
  const points: AnalyticsEngineDataPoint[] = [];
  return { points, binding: { writeDataPoint: (point?: AnalyticsEngineDataPoint) => void points.push(point!) } as AnalyticsEngineDataset };
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
});

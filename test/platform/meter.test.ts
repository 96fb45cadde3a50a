import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { Meter } from '../../src/platform/meter';

describe('Meter', () => {
  it('counts D1 statements with the rows they read and wrote, for first/all/run alike', async () => {
    const meter = new Meter();
    const db = meter.d1(env.DB);
    const start = meter.read();
    await db.prepare('CREATE TABLE IF NOT EXISTS meter_test (n INTEGER)').run();
    await db.prepare('INSERT INTO meter_test (n) VALUES (?1), (?2)').bind(1, 2).run();
    const first = await db.prepare('SELECT n FROM meter_test ORDER BY n').first<{ n: number }>();
    expect(first).toEqual({ n: 1 });
    expect(await db.prepare('SELECT count(*) AS c FROM meter_test').first<number>('c')).toBe(2);
    const spent = meter.since(start);
    expect(spent.d1_queries).toBe(4);
    expect(spent.d1_rows_written).toBeGreaterThanOrEqual(2);
    expect(spent.d1_rows_read).toBeGreaterThanOrEqual(2);
  });

  it('counts fetches', async () => {
    const meter = new Meter();
    const counted = meter.fetch();
    await counted('http://127.0.0.1:9/').catch(() => undefined); // nothing listens: still one subrequest attempted
    expect(meter.read().fetches).toBe(1);
  });
});

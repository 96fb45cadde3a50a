/**
 * Flat cost: every query on the cron path reads O(batch) rows through an
 * index that matches it. A full scan or a sort of the registry would make
 * each run cost the registry's size (the plans to refuse: `SCAN stream_users`,
 * `USE TEMP B-TREE FOR ORDER BY`).
 */
import { describe, expect, it } from 'vitest';
import { CRON_QUERIES } from '../../src/registry/registry';
import { DB } from '../support/reconcile';

const PARAMS: Record<keyof typeof CRON_QUERIES, unknown[]> = {
  page: ['', 100],
  rechecks: [100],
  claimDueDeletions: [Date.now(), 100, 'claim:x'],
  countDue: [Date.now(), 100],
  openTasks: [500],
  witnesses: ['', 20],
};

async function plan(sql: string, params: unknown[]): Promise<string[]> {
  const { results } = await DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...params)
    .all<{ detail: string }>();
  return results.map((row) => row.detail);
}

describe('cron queries use their indexes', () => {
  for (const [name, sql] of Object.entries(CRON_QUERIES) as [keyof typeof CRON_QUERIES, string][]) {
    it(`${name}: no scan of the table, no temporary sort`, async () => {
      const details = await plan(sql, PARAMS[name]);
      expect(details.length).toBeGreaterThan(0);
      for (const detail of details) {
        expect(detail, `${name}: ${details.join(' | ')}`).not.toMatch(/TEMP B-TREE/);
        // A SCAN is only acceptable over an index (a partial index holds only the rows that qualify).
        if (/^SCAN stream_users/.test(detail)) expect(detail, `${name}: ${details.join(' | ')}`).toMatch(/USING (COVERING )?INDEX/);
      }
      expect(details.join(' | ')).toMatch(/INDEX|PRIMARY KEY/);
    });
  }

  it('updates by uid list look each uid up by its key', async () => {
    const details = await plan(
      `UPDATE stream_users SET last_checked_at = ?2 WHERE uid IN (SELECT value FROM json_each(?1)) AND state = 'active'`,
      ['["a","b"]', 1],
    );
    expect(details.join(' | ')).toMatch(/SEARCH stream_users USING (INDEX sqlite_autoindex_stream_users_1|PRIMARY KEY) \(uid=\?\)/);
  });
});

/**
 * The migrations in migrations/, by name, as `wrangler d1 migrations apply` records them in its
 * `d1_migrations` table; the doctor checks each is applied. test/registry/migrations.test.ts fails
 * when this list and the folder disagree.
 */
export const MIGRATIONS = [
  '0001_create_stream_users.sql',
  '0002_reconcile_at_scale.sql',
  '0003_profile_written.sql',
  '0004_tenant_bound_index.sql',
] as const;

/** The migrations the bound database has not applied (all of them when it has no record of any). */
export async function missingMigrations(db: D1Database): Promise<string[]> {
  let applied: Set<string>;
  try {
    const { results } = await db.prepare('SELECT name FROM d1_migrations').all<{ name: string }>();
    applied = new Set(results.map((row) => row.name));
  } catch {
    applied = new Set(); // no d1_migrations table: nothing was ever applied
  }
  return MIGRATIONS.filter((name) => !applied.has(name));
}

-- Reconciliation at scale (tenants, flat-cost sweeps, Stream's batch delete). Times are Unix milliseconds.

-- The Identity Platform tenant the uid signed in with ('' = project-level users). Lookups are scoped to it.
ALTER TABLE stream_users ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
-- Last evidence the Firebase account existed: a valid ID token, or a lookup that listed it.
-- The most recent ones are the brake's witnesses (src/reconcile/checker.ts).
ALTER TABLE stream_users ADD COLUMN alive_at INTEGER;
-- 1: check this uid before the sweep on the next run (the self-service delete found the account still there).
ALTER TABLE stream_users ADD COLUMN recheck INTEGER NOT NULL DEFAULT 0;
-- A pending deletion is sent to Stream again from this time on (backoff after failures).
ALTER TABLE stream_users ADD COLUMN next_attempt_at INTEGER;
-- The Stream task deleting this uid, while it runs (resumed by the next run if this one ends first).
ALTER TABLE stream_users ADD COLUMN task_id TEXT;

-- Every cron query reads O(batch) rows through one of these (test/registry/query-plans.test.ts).
DROP INDEX IF EXISTS stream_users_due;
-- The sweep: a keyset cursor over the uids still active, in uid order (covering: no table reads).
CREATE INDEX IF NOT EXISTS stream_users_sweep ON stream_users (uid, tenant) WHERE state = 'active';
-- Deletions waiting for Stream, soonest due first.
CREATE INDEX IF NOT EXISTS stream_users_pending ON stream_users (next_attempt_at) WHERE state = 'pending_delete' AND task_id IS NULL;
-- Deletions Stream is working on, by task.
CREATE INDEX IF NOT EXISTS stream_users_tasks ON stream_users (task_id) WHERE task_id IS NOT NULL;
-- Uids to check before the sweep.
CREATE INDEX IF NOT EXISTS stream_users_recheck ON stream_users (uid) WHERE recheck = 1 AND state = 'active';
-- The brake's witnesses: per tenant, the uids most recently known to exist.
CREATE INDEX IF NOT EXISTS stream_users_alive ON stream_users (tenant, alive_at) WHERE state = 'active' AND alive_at IS NOT NULL;

-- One row: where the sweep is, and what the last run did (GET /v1/admin/reconcile/status).
CREATE TABLE IF NOT EXISTS reconcile_state (
  id                     INTEGER PRIMARY KEY CHECK (id = 1),
  -- The last uid the current sweep has passed ('' = start of a sweep).
  cursor                 TEXT NOT NULL DEFAULT '',
  sweep_started_at       INTEGER,
  -- Active uids when the sweep started (for progress and the projected completion).
  sweep_total            INTEGER,
  sweep_done             INTEGER NOT NULL DEFAULT 0,
  sweeps_completed       INTEGER NOT NULL DEFAULT 0,
  last_sweep_completed_at INTEGER,
  last_sweep_duration_ms INTEGER,
  -- JSON summary of the last run.
  last_run               TEXT
);
INSERT OR IGNORE INTO reconcile_state (id) VALUES (1);

-- Pending deletions from before this migration are due at once.
UPDATE stream_users SET next_attempt_at = 0 WHERE state = 'pending_delete' AND next_attempt_at IS NULL;

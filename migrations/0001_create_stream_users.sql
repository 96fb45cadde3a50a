-- The registry of Stream users this service provisioned. Reconciliation only
-- ever deletes users listed here. Times are Unix milliseconds.
CREATE TABLE IF NOT EXISTS stream_users (
  uid             TEXT PRIMARY KEY,
  first_seen_at   INTEGER NOT NULL,
  -- When Firebase was last asked about this uid (NULL: never; checked first).
  last_checked_at INTEGER,
  -- active: exists as far as we know; pending_delete: gone from Firebase, Stream delete still to do; deleted: done.
  state           TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'pending_delete', 'deleted')),
  deleted_at      INTEGER,
  -- How it ended, e.g. "cron:soft", "admin:hard,messages", "cron:already_gone".
  deleted_how     TEXT,
  failures        INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT
);

CREATE INDEX IF NOT EXISTS stream_users_due ON stream_users (state, last_checked_at);

-- What this service last wrote to Stream for each uid (a hash of the fields it owns, and when), so a
-- returning user whose profile is unchanged never reaches Stream, whichever isolate serves them.
ALTER TABLE stream_users ADD COLUMN profile_hash TEXT;
ALTER TABLE stream_users ADD COLUMN profile_written_at INTEGER;

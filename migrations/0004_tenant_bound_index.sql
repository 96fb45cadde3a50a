-- Whether any uid is bound to a tenant, answered by reading at most one row: the token routes ask it with
-- every near read (src/registry/registry.ts), so that during a D1 outage a project-level deployment knows
-- it may serve a uid it cannot look up (no tenant could own it).
CREATE INDEX IF NOT EXISTS stream_users_tenant_bound ON stream_users (tenant) WHERE tenant != '';

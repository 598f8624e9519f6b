-- Retention prunes events oldest id first (actors/scheduler/maintenance.cpp),
-- so nothing reads events by created_at any more. That B-tree cost Postgres
-- about a third of a no-op job's work: every event of a transaction has the
-- same created_at, and a batched claim or completion writes thousands
-- (docs/performance.md, issue 14).
DROP INDEX events_created_idx;

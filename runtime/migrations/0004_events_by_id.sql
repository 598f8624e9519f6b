-- Retention prunes events oldest id first (actors/scheduler/maintenance.cpp),
-- so nothing reads events by created_at any more. That B-tree cost ~3 us of
-- Postgres CPU and 140 bytes of WAL per no-op job (~4 %): every event of a
-- transaction has the same created_at, and a batched claim or completion
-- writes thousands (docs/performance.md, issue 14).
DROP INDEX events_created_idx;

-- Cluster membership (docs/cluster.md): where a gateway publishes its cluster
-- actor, and when the leader last declared a node gone (so `node.left` is
-- written once per disappearance; a heartbeat clears it again).
ALTER TABLE nodes ADD COLUMN cluster_address text;
ALTER TABLE nodes ADD COLUMN left_at timestamptz;
-- Attempts this node started (its claims add to it), for /v1/status.
ALTER TABLE nodes ADD COLUMN jobs_started bigint NOT NULL DEFAULT 0;

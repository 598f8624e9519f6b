-- Repository analyses (docs/analyzer.md): an analysis names its project, at
-- most one analysis per project is queued or running, and the credentials a
-- project's URL carried are kept sealed (base64url of a libsodium secretbox),
-- never in the URL.
ALTER TABLE jobs ADD CONSTRAINT jobs_analysis_has_project
  CHECK (kind <> 'repository_analysis' OR project_id IS NOT NULL);
CREATE INDEX jobs_project_idx ON jobs (project_id, id DESC) WHERE project_id IS NOT NULL;
CREATE UNIQUE INDEX jobs_one_active_analysis ON jobs (project_id)
  WHERE kind = 'repository_analysis' AND status IN ('queued', 'running');
ALTER TABLE projects ADD COLUMN credentials text;

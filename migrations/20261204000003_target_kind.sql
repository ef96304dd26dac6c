-- The gateway judges resource reads and prompt gets as well as tool calls:
-- audit events and approvals say which kind of target they name. `tool`
-- keeps its name and holds the tool's name, the resource's URI or the
-- prompt's name.
ALTER TABLE audit_events ADD COLUMN kind text NOT NULL DEFAULT 'tool'
    CHECK (kind IN ('tool', 'resource', 'prompt'));
ALTER TABLE approvals ADD COLUMN kind text NOT NULL DEFAULT 'tool'
    CHECK (kind IN ('tool', 'resource', 'prompt'));

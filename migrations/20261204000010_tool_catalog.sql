-- The tool catalog: what each registered upstream offers, as discovery last
-- found it, and how its tool definitions changed over time.

-- A trusted server's own annotations (e.g. readOnlyHint) may lower the risk
-- the classifier gives its tools; an untrusted server's never do.
ALTER TABLE servers ADD COLUMN trusted boolean NOT NULL DEFAULT false;

-- The last discovery attempt of each server. A failure replaces the status,
-- never the catalog: the tools last seen stay listed.
CREATE TABLE server_catalogs (
    server_id  uuid PRIMARY KEY REFERENCES servers(id) ON DELETE CASCADE,
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN
               ('pending', 'ok', 'unreachable', 'unauthorized', 'not_mcp',
                'too_large', 'timeout', 'refused_address', 'error')),
    checked_at timestamptz,
    -- Tools found by the last successful attempt.
    tool_count integer,
    detail     text,
    -- `legacy` or `modern`, from the last successful attempt.
    era        text,
    -- Resources and prompts as last listed (arrays of {name, uri?, title?,
    -- description?, mimeType?, arguments?}).
    resources  jsonb NOT NULL DEFAULT '[]',
    prompts    jsonb NOT NULL DEFAULT '[]'
);

-- One row per server and tool name: its current definition (`hash` is
-- `ToolDefinition::content_hash` of the definition as received; the stored
-- jsonb has each NUL replaced, which Postgres cannot hold).
CREATE TABLE catalog_tools (
    id            uuid PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    server_id     uuid NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    name          text NOT NULL,
    hash          text NOT NULL,
    definition    jsonb NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    -- When the current definition was first seen.
    changed_at    timestamptz NOT NULL DEFAULT now(),
    -- When the tool stopped being listed; NULL while it is.
    removed_at    timestamptz,
    UNIQUE (server_id, name)
);
CREATE INDEX catalog_tools_account ON catalog_tools (account_id, id);

-- Every change of a server's tools: a tool added, changed (which parts:
-- `ToolDefinition::changes_from`), removed or listed again.
CREATE TABLE catalog_tool_changes (
    id          bigserial PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    server_id   uuid NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    tool_id     uuid NOT NULL REFERENCES catalog_tools(id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('added', 'changed', 'removed', 'restored')),
    old_hash    text,
    new_hash    text,
    -- For `changed`: ["description", "input_schema", ...].
    changes     jsonb NOT NULL DEFAULT '[]',
    seen_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX catalog_tool_changes_tool ON catalog_tool_changes (tool_id, id);

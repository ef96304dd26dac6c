-- A shadow policy beside a server's live one: the gateway decides every call
-- with both, acts on the live decision only, and records what the shadow
-- would have decided in the call's audit event. At most one shadow per
-- server; promoting it stores its document as the next live version.
CREATE TABLE policy_shadows (
    server_id    uuid PRIMARY KEY REFERENCES servers(id) ON DELETE CASCADE,
    account_id   uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    document     jsonb NOT NULL,
    -- The stored version the document was copied from, when set by version.
    from_version integer,
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- What the shadow policy decided about the call (NULL: no shadow was set,
-- or the call was refused before any policy judged it). Shadow limits are
-- never checked against the counter store: `shadow_counters` names the
-- counters the call would have been counted against.
ALTER TABLE audit_events
    ADD COLUMN shadow_decision text,
    ADD COLUMN shadow_rule     text,
    ADD COLUMN shadow_counters text[];

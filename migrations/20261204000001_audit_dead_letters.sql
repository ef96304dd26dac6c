-- Audit events Postgres refused for their data (a constraint, a value out of
-- range, text it cannot hold) and queue entries that hold no readable event.
-- The audit consumer and the in-process writer set them aside here, so one
-- bad event never stops the trail; the rest of its batch is stored as usual.
-- Operators read them with the query in the README's Audit section.

CREATE TABLE audit_dead_letters (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The event's id and account when the entry held a readable event.
    event_id          uuid,
    account_id        uuid,
    -- The Redis Stream entry that carried it; NULL on the in-process queue.
    stream_entry      text,
    -- The event as JSON text (NUL escaped as \u0000, so text can hold it),
    -- or an unreadable entry's bytes with invalid UTF-8 and NUL replaced.
    event             text NOT NULL,
    -- Why Postgres refused it: its SQLSTATE (NULL when refused before
    -- reaching Postgres) and message.
    sqlstate          text,
    error             text NOT NULL,
    dead_lettered_at  timestamptz NOT NULL DEFAULT now()
);

-- A redelivered event (after a crash before the acknowledgement) is set aside once.
CREATE UNIQUE INDEX audit_dead_letters_event ON audit_dead_letters (event_id)
    WHERE event_id IS NOT NULL;
CREATE UNIQUE INDEX audit_dead_letters_entry ON audit_dead_letters (stream_entry)
    WHERE event_id IS NULL;
CREATE INDEX audit_dead_letters_time ON audit_dead_letters (dead_lettered_at DESC);

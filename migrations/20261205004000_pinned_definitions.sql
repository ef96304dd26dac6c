-- The definitions a person compares when a tool changes: the pinned one
-- (what was reviewed) and the current one, kept by hash for each catalog
-- tool. Written by a trigger whoever changes the row, and pruned to those
-- two, so an upstream that keeps changing a tool cannot grow it.
CREATE TABLE catalog_tool_definitions (
    tool_id     uuid NOT NULL REFERENCES catalog_tools(id) ON DELETE CASCADE,
    hash        text NOT NULL,
    definition  jsonb NOT NULL,
    PRIMARY KEY (tool_id, hash)
);

INSERT INTO catalog_tool_definitions (tool_id, hash, definition)
SELECT id, hash, definition FROM catalog_tools
ON CONFLICT DO NOTHING;

CREATE FUNCTION keep_catalog_tool_definition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog_tool_definitions (tool_id, hash, definition)
    VALUES (NEW.id, NEW.hash, NEW.definition)
    ON CONFLICT DO NOTHING;
    DELETE FROM catalog_tool_definitions
    WHERE tool_id = NEW.id
      AND hash <> NEW.hash
      AND hash IS DISTINCT FROM NEW.pinned_hash;
    RETURN NEW;
END
$$;

CREATE TRIGGER catalog_tools_keep_definition
AFTER INSERT OR UPDATE OF hash, definition, pinned_hash ON catalog_tools
FOR EACH ROW EXECUTE FUNCTION keep_catalog_tool_definition();

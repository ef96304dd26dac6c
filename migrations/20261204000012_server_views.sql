-- A server as the API shows it: its row and the state of its last
-- discovery attempt, read in one place instead of repeated in each query.
CREATE VIEW server_views AS
SELECT s.id, s.account_id, s.name, s.url, s.header_names, s.timeout_ms, s.trusted,
       s.new_tools, COALESCE(c.status, 'pending') AS catalog_status,
       c.checked_at AS catalog_checked_at, c.tool_count AS catalog_tool_count,
       c.detail AS catalog_detail, c.era AS catalog_era, s.created_at, s.updated_at
FROM servers s LEFT JOIN server_catalogs c ON c.server_id = s.id;

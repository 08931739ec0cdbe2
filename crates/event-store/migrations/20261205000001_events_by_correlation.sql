-- no-transaction
-- Following one request through the system (the console's "follow", `GET
-- /admin/correlations/{id}`) reads every event that carries its correlation id. Built
-- concurrently, so a large store keeps taking writes while it is made.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_correlation_idx
    ON events ((metadata ->> 'correlation_id'));

-- Each event keeps the exact protobuf envelope it was published with, so streams can be
-- replayed (read-model rebuilds, the operator CLI) byte for byte as consumers saw them,
-- without going back to Kafka, whose retention is finite.
ALTER TABLE events ADD COLUMN envelope bytea;

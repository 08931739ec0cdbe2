-- Keys are purged once older than the command services' retention.idempotency_keys_hours;
-- the purge finds them by age.
CREATE INDEX idempotency_keys_recorded_at_idx ON idempotency_keys (recorded_at);

-- Keys of commands that carried an `Idempotency-Key`, written in the same transaction as the
-- events they caused. A repeat with the same key and the same request answers the first
-- outcome; the same key with another request is refused. Only committed commands are
-- recorded: a refused command wrote nothing, so repeating it decides again.
CREATE TABLE idempotency_keys (
    aggregate_type  text        NOT NULL,
    idempotency_key text        NOT NULL,
    aggregate_id    text        NOT NULL,
    -- Digest of the request (operation, target and body) the key was first used with.
    fingerprint     text        NOT NULL,
    -- The aggregate's version after the command.
    version         bigint      NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (aggregate_type, idempotency_key)
);

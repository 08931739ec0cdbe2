-- A row the broker keeps refusing (too large, invalid) is set aside after a bounded number of
-- attempts; the later rows of its aggregate wait behind it, the other aggregates flow.
ALTER TABLE outbox
    ADD COLUMN attempts     integer     NOT NULL DEFAULT 0,
    ADD COLUMN last_error   text,
    ADD COLUMN set_aside_at timestamptz;
CREATE INDEX outbox_set_aside_idx ON outbox (partition_key, topic, message_key)
    WHERE set_aside_at IS NOT NULL;

-- Set-aside rows an operator gave up on (esctl outbox skip): who, when and why.
CREATE TABLE outbox_skipped (
    event_id    uuid        NOT NULL,
    topic       text        NOT NULL,
    message_key text        NOT NULL,
    last_error  text,
    skipped_at  timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    reason      text        NOT NULL,
    CONSTRAINT outbox_skipped_pkey PRIMARY KEY (event_id)
);

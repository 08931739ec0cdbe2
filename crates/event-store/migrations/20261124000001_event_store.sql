-- The event store of one bounded context: events, snapshots, the transactional outbox and
-- uniqueness claims. Every command commits its rows in all four in one transaction.

CREATE TABLE events (
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    sequence        bigint      NOT NULL CHECK (sequence > 0),
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    event_version   text        NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL,
    -- Commit-independent total order, used to replay a whole store (rebuilds).
    position        bigint      GENERATED ALWAYS AS IDENTITY,
    -- Optimistic concurrency: two writers of the same version collide here.
    CONSTRAINT events_pkey PRIMARY KEY (aggregate_type, aggregate_id, sequence),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);
CREATE INDEX events_position_idx ON events (position);

CREATE TABLE snapshots (
    aggregate_type   text        NOT NULL,
    aggregate_id     text        NOT NULL,
    last_sequence    bigint      NOT NULL,
    snapshot_version bigint      NOT NULL,
    payload          jsonb       NOT NULL,
    taken_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT snapshots_pkey PRIMARY KEY (aggregate_type, aggregate_id)
);

-- Rows waiting to be published. The relay deletes a row only after the broker acknowledged it.
CREATE TABLE outbox (
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    -- Lease unit: one relay at a time owns a partition, so per-aggregate order holds.
    partition_key smallint    NOT NULL,
    topic         text        NOT NULL,
    message_key   text        NOT NULL,
    payload       bytea       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    event_id      uuid        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outbox_pkey PRIMARY KEY (id)
);
CREATE INDEX outbox_partition_idx ON outbox (partition_key, id);

-- A value (e.g. a user's email) owned by exactly one aggregate.
CREATE TABLE unique_claims (
    scope      text        NOT NULL,
    value      text        NOT NULL,
    owner_id   text        NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT unique_claims_pkey PRIMARY KEY (scope, value)
);

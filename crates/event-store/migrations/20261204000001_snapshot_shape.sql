-- The shape of the aggregate a snapshot serialized: a snapshot of another shape than the
-- context's current one is ignored (the aggregate is folded from its events) and replaced at
-- the next snapshot, never deserialized into the new shape. Snapshots taken before shapes were
-- recorded are of shape 1.
ALTER TABLE snapshots ADD COLUMN shape_version integer NOT NULL DEFAULT 1;

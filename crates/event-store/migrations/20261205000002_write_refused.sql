-- A command's write is one statement when it can be (ADR 0001): the events, their outbox rows,
-- the uniqueness claims, the subject's key, the idempotency key and the snapshot, each a part
-- of one `WITH`. When a part did not do what the write needs (a claim already owned by
-- another aggregate, a subject key other than the one the payload was sealed with), the
-- statement calls this function, which fails it, so that none of its parts is kept; the
-- repository then writes the command the careful way, in a transaction of one statement per
-- part, which says exactly what was wrong.
CREATE FUNCTION event_store_write_refused() RETURNS bigint
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'ES001',
        MESSAGE = 'the write in one statement was refused: a claim or the subject key differs';
END
$$;

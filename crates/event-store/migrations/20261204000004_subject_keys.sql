-- Crypto-shredding (ADR 0018): personal data is sealed with a key per data subject; an
-- erasure destroys the key (key NULL, erased_at set) and with it every copy of the data.
CREATE TABLE subject_keys (
    subject    text        NOT NULL,
    key        bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at  timestamptz,
    CONSTRAINT subject_keys_pkey PRIMARY KEY (subject),
    CONSTRAINT subject_keys_erased CHECK ((key IS NULL) = (erased_at IS NOT NULL))
);

-- The secret a uniqueness claim's value is digested with, so a claim never stores the value
-- (an email) itself. One row, made here.
CREATE TABLE claim_secret (
    only_row boolean NOT NULL DEFAULT true,
    secret   bytea   NOT NULL,
    CONSTRAINT claim_secret_pkey PRIMARY KEY (only_row),
    CONSTRAINT claim_secret_one_row CHECK (only_row)
);
INSERT INTO claim_secret (secret)
VALUES (sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text
                          || clock_timestamp()::text, 'UTF8')));

-- Claims made before: their values become digests too.
UPDATE unique_claims
SET value = encode(sha256((SELECT secret FROM claim_secret) || convert_to(value, 'UTF8')), 'hex');

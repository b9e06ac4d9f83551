-- Business keys (journal.keys): each message's order number, code number… for finding it
-- by what the brand calls it. Searched by name and value prefix, so the value sorts
-- bytewise ("C") whatever the database's collation; pruned by age.
CREATE TABLE journal_keys (
    name       TEXT   NOT NULL,
    value      TEXT   COLLATE "C" NOT NULL,
    message_id TEXT   NOT NULL,
    at_ms      BIGINT NOT NULL,
    PRIMARY KEY (name, value, message_id)
);
CREATE INDEX journal_keys_at ON journal_keys (at_ms);
CREATE INDEX journal_keys_message ON journal_keys (message_id);

-- Deferrals: a message put back for later without an attempt (its channel at its limit,
-- stalled or paused). Not attempts, so not in journal_attempts.
CREATE TABLE journal_deferrals (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id TEXT   NOT NULL,
    channel    TEXT,
    attempt    BIGINT NOT NULL,
    error      TEXT,
    at_ms      BIGINT NOT NULL
);
CREATE INDEX journal_deferrals_at ON journal_deferrals (at_ms, id);
CREATE INDEX journal_deferrals_channel_at ON journal_deferrals (channel, at_ms);
CREATE INDEX journal_deferrals_message ON journal_deferrals (message_id, at_ms);

-- Business keys (journal.keys): each message's order number, code number… for finding it
-- by what the brand calls it. Searched by name and value prefix; pruned by age.
CREATE TABLE journal_keys (
    name       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    at_ms      INTEGER NOT NULL,
    PRIMARY KEY (name, value, message_id)
) WITHOUT ROWID;
CREATE INDEX journal_keys_at ON journal_keys (at_ms);
CREATE INDEX journal_keys_message ON journal_keys (message_id);

-- Deferrals: a message put back for later without an attempt (its channel at its limit,
-- stalled or paused). Not attempts, so not in journal_attempts.
CREATE TABLE journal_deferrals (
    id         INTEGER PRIMARY KEY,
    message_id TEXT    NOT NULL,
    channel    TEXT,
    attempt    INTEGER NOT NULL,
    error      TEXT,
    at_ms      INTEGER NOT NULL
);
CREATE INDEX journal_deferrals_at ON journal_deferrals (at_ms, id);
CREATE INDEX journal_deferrals_channel_at ON journal_deferrals (channel, at_ms);
CREATE INDEX journal_deferrals_message ON journal_deferrals (message_id, at_ms);

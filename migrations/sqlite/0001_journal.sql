-- The delivery journal: one row per attempt, and each original message once.

CREATE TABLE journal_messages (
    message_id     TEXT    PRIMARY KEY,
    content_type   TEXT,
    body           BLOB    NOT NULL,
    received_at_ms INTEGER NOT NULL
);

-- Retention deletes messages by age once their attempts are gone.
CREATE INDEX journal_messages_received ON journal_messages (received_at_ms);

CREATE TABLE journal_attempts (
    id          INTEGER PRIMARY KEY,
    message_id  TEXT    NOT NULL,
    channel     TEXT,
    notify_type TEXT,
    url         TEXT,
    attempt     INTEGER NOT NULL,
    status      INTEGER,
    latency_ms  INTEGER,
    response    TEXT,
    error       TEXT,
    outcome     TEXT    NOT NULL
        CHECK (outcome IN ('delivered', 'retry', 'parked', 'bad-input')),
    at_ms       INTEGER NOT NULL
);

-- Newest first, unfiltered or by time (also serves retention), then per filter that is
-- selective enough to deserve its own order: one channel, or the rare outcomes (parked).
CREATE INDEX journal_attempts_at ON journal_attempts (at_ms, id);
CREATE INDEX journal_attempts_channel_at ON journal_attempts (channel, at_ms, id);
CREATE INDEX journal_attempts_outcome_at ON journal_attempts (outcome, at_ms, id);
-- All attempts of one message, oldest first.
CREATE INDEX journal_attempts_message ON journal_attempts (message_id, at_ms, id);

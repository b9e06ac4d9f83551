-- Every message gets a number, and attempts, keys and deferrals refer to it instead of
-- repeating its text id in each row and each index.
-- SQLite cannot add an INTEGER PRIMARY KEY to a table, so the four tables are rebuilt.

-- A row may now be a placeholder with no body: the number for the records of a message
-- whose original this journal does not hold (its first attempt journaled by another
-- replica's journal or before journaling began, or an original too large to keep).
CREATE TABLE journal_messages_v5 (
    id             INTEGER PRIMARY KEY,
    message_id     TEXT    NOT NULL UNIQUE,
    content_type   TEXT,
    body           BLOB,
    dictionary     INTEGER,
    received_at_ms INTEGER NOT NULL
);
INSERT INTO journal_messages_v5 (message_id, content_type, body, dictionary, received_at_ms)
    SELECT message_id, content_type, body, dictionary, received_at_ms
    FROM journal_messages ORDER BY received_at_ms;
INSERT INTO journal_messages_v5 (message_id, received_at_ms)
    SELECT message_id, MIN(at_ms) FROM (
        SELECT message_id, at_ms FROM journal_attempts
        UNION ALL SELECT message_id, at_ms FROM journal_deferrals
        UNION ALL SELECT message_id, at_ms FROM journal_keys) seen
    WHERE NOT EXISTS (SELECT 1 FROM journal_messages m WHERE m.message_id = seen.message_id)
    GROUP BY message_id;

CREATE TABLE journal_attempts_v5 (
    id          INTEGER PRIMARY KEY,
    message     INTEGER NOT NULL,
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
INSERT INTO journal_attempts_v5
    SELECT a.id, m.id, a.channel, a.notify_type, a.url, a.attempt, a.status, a.latency_ms,
        a.response, a.error, a.outcome, a.at_ms
    FROM journal_attempts a JOIN journal_messages_v5 m ON m.message_id = a.message_id;

-- Keys live as long as their message, and go with it: no time of their own to index.
CREATE TABLE journal_keys_v5 (
    message INTEGER NOT NULL,
    name    TEXT    NOT NULL,
    value   TEXT    NOT NULL,
    PRIMARY KEY (message, name, value)
) WITHOUT ROWID;
INSERT INTO journal_keys_v5
    SELECT DISTINCT m.id, k.name, k.value
    FROM journal_keys k JOIN journal_messages_v5 m ON m.message_id = k.message_id;

CREATE TABLE journal_deferrals_v5 (
    id      INTEGER PRIMARY KEY,
    message INTEGER NOT NULL,
    channel TEXT,
    attempt INTEGER NOT NULL,
    error   TEXT,
    at_ms   INTEGER NOT NULL
);
INSERT INTO journal_deferrals_v5
    SELECT d.id, m.id, d.channel, d.attempt, d.error, d.at_ms
    FROM journal_deferrals d JOIN journal_messages_v5 m ON m.message_id = d.message_id;

DROP TABLE journal_attempts;
DROP TABLE journal_keys;
DROP TABLE journal_deferrals;
DROP TABLE journal_messages;
ALTER TABLE journal_messages_v5 RENAME TO journal_messages;
ALTER TABLE journal_attempts_v5 RENAME TO journal_attempts;
ALTER TABLE journal_keys_v5 RENAME TO journal_keys;
ALTER TABLE journal_deferrals_v5 RENAME TO journal_deferrals;

-- Retention deletes messages by age once their attempts and deferrals are gone.
CREATE INDEX journal_messages_received ON journal_messages (received_at_ms);
CREATE INDEX journal_messages_dictionary ON journal_messages (dictionary)
    WHERE dictionary IS NOT NULL;

-- Newest first, unfiltered or by time (also serves retention), then per filter that is
-- selective enough to deserve its own order: one channel, or the rare outcomes. Delivered
-- attempts, nearly all of them, are left out of the outcome index: listing them walks the
-- time index, and queries on the others repeat the index's condition so it is used.
CREATE INDEX journal_attempts_at ON journal_attempts (at_ms, id);
CREATE INDEX journal_attempts_channel_at ON journal_attempts (channel, at_ms, id);
CREATE INDEX journal_attempts_outcome_at ON journal_attempts (outcome, at_ms, id)
    WHERE outcome <> 'delivered';
CREATE INDEX journal_attempts_message ON journal_attempts (message);

-- Found by name and value prefix; the index also holds the message number.
CREATE INDEX journal_keys_value ON journal_keys (name, value);

CREATE INDEX journal_deferrals_at ON journal_deferrals (at_ms, id);
CREATE INDEX journal_deferrals_channel_at ON journal_deferrals (channel, at_ms);
CREATE INDEX journal_deferrals_message ON journal_deferrals (message, at_ms);

-- Bodies stored small: each deflated against a dictionary, a recent body of its channel
-- (NULL: stored as it came). A dictionary holds a message in clear, so retention deletes it
-- once no message uses it; the index finds whether one does.
CREATE TABLE journal_dictionaries (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body          BYTEA  NOT NULL,
    created_at_ms BIGINT NOT NULL
);
ALTER TABLE journal_messages ADD COLUMN dictionary BIGINT;
CREATE INDEX journal_messages_dictionary ON journal_messages (dictionary)
    WHERE dictionary IS NOT NULL;

-- No query looks keys up by message: this index only cost a second copy of every key.
DROP INDEX journal_keys_message;

-- A message's attempts are few: its id alone finds them (they are sorted after), and the
-- index holds no copy of their times.
DROP INDEX journal_attempts_message;
CREATE INDEX journal_attempts_message ON journal_attempts (message_id);

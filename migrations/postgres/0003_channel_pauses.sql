-- Channels an operator paused: their messages are deferred, unattempted, until resumed.
-- In the journal so the pause survives a restart and every replica sharing it obeys it.
CREATE TABLE channel_pauses (
    channel      TEXT   PRIMARY KEY,
    paused_at_ms BIGINT NOT NULL
);

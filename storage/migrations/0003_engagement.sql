-- Quizzes and giveaways.

CREATE TABLE quizzes (
    id          INTEGER PRIMARY KEY,
    owner_chat  INTEGER,                 -- group it belongs to; NULL: a manager's, usable anywhere
    title       TEXT NOT NULL,
    created_by  INTEGER,
    created_at  INTEGER NOT NULL,
    shuffle     INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE quiz_questions (
    id           INTEGER PRIMARY KEY,
    quiz_id      INTEGER NOT NULL REFERENCES quizzes(id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    text         TEXT NOT NULL,
    options      TEXT NOT NULL,          -- JSON list of strings
    correct      INTEGER NOT NULL,       -- index into options
    explanation  TEXT
);
CREATE INDEX quiz_questions_quiz ON quiz_questions(quiz_id, position);

CREATE TABLE quiz_runs (
    id                INTEGER PRIMARY KEY,
    quiz_id           INTEGER NOT NULL,
    title             TEXT NOT NULL,
    chat_id           INTEGER NOT NULL,
    started_by        INTEGER,
    started_at        INTEGER NOT NULL,
    interval_seconds  INTEGER NOT NULL,
    next_index        INTEGER NOT NULL DEFAULT 0,   -- next question to post
    next_at           INTEGER,                      -- when to post it (UTC seconds)
    status            TEXT NOT NULL DEFAULT 'running',  -- running | finished | stopped
    ended_at          INTEGER
);
CREATE INDEX quiz_runs_chat ON quiz_runs(chat_id, status);

CREATE TABLE quiz_polls (
    poll_id      TEXT PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES quiz_runs(id),
    position     INTEGER NOT NULL,
    chat_id      INTEGER NOT NULL,
    message_id   INTEGER NOT NULL,
    correct      INTEGER NOT NULL,        -- index of the correct option as posted (after shuffle)
    sent_at      REAL NOT NULL
);

CREATE TABLE quiz_answers (
    poll_id      TEXT NOT NULL,
    run_id       INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    user_name    TEXT NOT NULL,
    option       INTEGER NOT NULL,
    correct      INTEGER NOT NULL,
    latency      REAL NOT NULL,          -- seconds from posting to answer
    PRIMARY KEY (poll_id, user_id)
);
CREATE INDEX quiz_answers_run ON quiz_answers(run_id);

CREATE TABLE giveaways (
    id               INTEGER PRIMARY KEY,
    chat_id          INTEGER NOT NULL,
    message_id       INTEGER,
    created_by       INTEGER,
    prize            TEXT NOT NULL,
    winners_count    INTEGER NOT NULL,
    ends_at          INTEGER NOT NULL,
    require_chats    TEXT NOT NULL DEFAULT '[]',  -- JSON list of @channel names or ids
    exclude_admins   INTEGER NOT NULL DEFAULT 0,
    exclude_winners  INTEGER NOT NULL DEFAULT 0,  -- earlier winners of this chat may not win
    private_entrants INTEGER NOT NULL DEFAULT 0,  -- publish sha256 of ids instead of ids
    seed_hex         TEXT NOT NULL,
    commitment       TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'open',  -- open | drawing | drawn
    created_at       INTEGER NOT NULL,
    drawn_at         INTEGER
);
CREATE INDEX giveaways_status ON giveaways(status, ends_at);

CREATE TABLE giveaway_entries (
    giveaway_id  INTEGER NOT NULL REFERENCES giveaways(id),
    user_id      INTEGER NOT NULL,
    user_name    TEXT NOT NULL,
    entered_at   INTEGER NOT NULL,
    PRIMARY KEY (giveaway_id, user_id)
);

CREATE TABLE giveaway_results (
    giveaway_id  INTEGER NOT NULL REFERENCES giveaways(id),
    user_id      INTEGER NOT NULL,
    outcome      TEXT NOT NULL,          -- won | skipped
    reason       TEXT,
    round        INTEGER NOT NULL,       -- 0: the draw; 1, 2, ...: rerolls
    rank         INTEGER NOT NULL,
    PRIMARY KEY (giveaway_id, user_id)
);

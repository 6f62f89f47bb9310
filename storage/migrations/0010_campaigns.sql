-- Campaigns: named invite links, the joins they brought and whether those members stayed.

CREATE TABLE campaigns (
    id                   INTEGER PRIMARY KEY,
    chat_id              INTEGER NOT NULL,          -- the group or channel the link opens
    name                 TEXT NOT NULL,             -- also the link's name on Telegram (<= 32)
    invite_link          TEXT NOT NULL UNIQUE,      -- https://t.me/+…, as createChatInviteLink gave it
    cost                 TEXT,                      -- decimal as typed ("49.90"), NULL = no cost
    currency             TEXT,
    expire_date          INTEGER,                   -- UTC seconds, as given to Telegram
    member_limit         INTEGER,
    creates_join_request INTEGER NOT NULL DEFAULT 0,
    created_by           INTEGER,
    created_at           INTEGER NOT NULL,
    ended_at             INTEGER,                   -- revoked with /campaign_end
    ended_by             INTEGER
);
CREATE INDEX campaigns_chat ON campaigns(chat_id);

-- One row per join Steward saw (chat_member), campaign_id NULL for "organic / other".
-- A rejoin is a new row; a leave closes the member's latest open row.
CREATE TABLE campaign_joins (
    id           INTEGER PRIMARY KEY,
    chat_id      INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    campaign_id  INTEGER REFERENCES campaigns(id),
    source       TEXT NOT NULL,                     -- link | name | request | organic
    joined_at    INTEGER NOT NULL,                  -- UTC seconds
    joined_day   TEXT NOT NULL,                     -- YYYY-MM-DD in TIMEZONE, for per-day charts
    left_at      INTEGER,
    left_1d      INTEGER NOT NULL DEFAULT 0,        -- left within the churn windows (set on leave)
    left_7d      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX campaign_joins_time ON campaign_joins(chat_id, joined_at);
CREATE INDEX campaign_joins_member ON campaign_joins(chat_id, user_id, left_at);
CREATE INDEX campaign_joins_campaign ON campaign_joins(campaign_id, joined_at);

-- The same joins summed per campaign and local day, kept current as joins and leaves arrive,
-- so a 90-day report reads at most days x campaigns rows instead of every join.
CREATE TABLE campaign_daily (
    chat_id      INTEGER NOT NULL,
    campaign_id  INTEGER NOT NULL,                  -- 0 = organic / other
    day          TEXT NOT NULL,                     -- the day of the join, in TIMEZONE
    joins        INTEGER NOT NULL DEFAULT 0,
    left_1d      INTEGER NOT NULL DEFAULT 0,
    left_7d      INTEGER NOT NULL DEFAULT 0,
    left_total   INTEGER NOT NULL DEFAULT 0,        -- still members = joins - left_total
    PRIMARY KEY (chat_id, day, campaign_id)
) WITHOUT ROWID;
CREATE INDEX campaign_daily_campaign ON campaign_daily(campaign_id);

-- Join requests sent through a campaign link, waiting for an admin (or bot) to approve them;
-- the chat_member update that follows the approval is attributed from here.
CREATE TABLE campaign_join_requests (
    chat_id      INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
    requested_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;

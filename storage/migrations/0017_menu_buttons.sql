-- Which calendar menu button each user was given (setChatMenuButton), so a manager gets it once:
-- at start-up when Telegram can reach them, else on their first private message, and again only
-- when MINIAPP_URL or their language changes. A row whose user is no longer a manager, or with
-- no Mini App any more, is reset to Telegram's default button and deleted.
CREATE TABLE menu_buttons (
    user_id INTEGER PRIMARY KEY,
    url     TEXT NOT NULL,
    locale  TEXT NOT NULL,
    set_at  INTEGER NOT NULL
);

-- When a post being published was handed to Telegram (unix seconds), set just before the request.
--
-- A worker claims a due post (`scheduled -> publishing`) and may wait for the send budget before
-- sending it. If the worker dies, a post whose `sending_at` is still NULL never reached Telegram:
-- it goes back to the queue and another worker publishes it. Only a post whose request may have
-- gone out is held for the manager's decision (never resent silently).

ALTER TABLE posts ADD COLUMN sending_at INTEGER;

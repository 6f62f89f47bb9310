-- A drawn giveaway's result is posted after the draw is stored: a worker killed in between
-- left a draw nobody ever announced. `announced_at` is set once the result is out (or handed
-- to the organiser); a drawn giveaway without it is announced at the next start. Giveaways
-- drawn before this migration count as announced: their draws finished long ago.
ALTER TABLE giveaways ADD COLUMN announced_at INTEGER;
UPDATE giveaways SET announced_at=COALESCE(drawn_at, ends_at) WHERE status='drawn';

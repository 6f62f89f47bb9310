-- A quiz question on its way (bot.engagement.quizzes): the worker posting the run's next
-- question holds it until `asking_until` (renewed while it waits for its send slot), and
-- `asking_sent_at` says its sendPoll left. The run moves to the next question only once the
-- poll is recorded, so a worker that dies before the request left leaves the question to be
-- asked by another (never skipped); one that dies after it left leaves a question that may be
-- out, which is passed over rather than asked twice.
ALTER TABLE quiz_runs ADD COLUMN asking_until INTEGER;
ALTER TABLE quiz_runs ADD COLUMN asking_sent_at INTEGER;

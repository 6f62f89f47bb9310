"""Quizzes and giveaways: formats, scoring and the verifiable draw, runnable without Telegram."""

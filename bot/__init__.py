"""Steward: a Telegram bot that does the day-to-day work of a community's SMM team."""

__version__ = "0.1.0"

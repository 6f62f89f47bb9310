"""Moderation domain logic: durations, spam scoring, flood and blocklist checks, actions.

Everything here except `service` is plain Python that runs without Telegram.
"""

"""Reputation watch: complaints to the support chat, watched mentions, and each chat's mood.

Plain Python (no aiogram): the handlers translate Telegram to these calls and back.
"""

"""Persistence: the aiosqlite database, numbered migrations and one repository per table group."""

from storage.database import Database, DatabaseLockedError, MigrationError

__all__ = ["Database", "DatabaseLockedError", "MigrationError"]

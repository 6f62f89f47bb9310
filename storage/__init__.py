"""Persistence: the database (SQLite or PostgreSQL), numbered migrations and one repository per
table group."""

from storage.database import Database, DatabaseLockedError, MigrationError

__all__ = ["Database", "DatabaseLockedError", "MigrationError"]

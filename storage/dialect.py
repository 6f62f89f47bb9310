"""The query map: the few SQL fragments that differ between SQLite and PostgreSQL.

Everything else is written once in the subset both engines share (umputun/tg-spam keeps one map
of statements per engine the same way). A repository asks `db.sql.<name>` where it needs one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    # the current UTC time as ISO-8601 text, "2026-05-01T09:30:00Z" (how TEXT times are kept)
    now_text: str
    # the first element of a JSON list of integers stored as TEXT: .format(column)
    json_first_int: str
    # the larger of two values (SQLite's two-argument MAX)
    greatest: str
    # after a SELECT: lock its rows against a concurrent UPDATE until the statement commits
    # (PostgreSQL's READ COMMITTED reads a snapshot otherwise; SQLite has one writer anyway)
    share_lock: str = ""


SQLITE = Dialect(
    name="sqlite",
    now_text="strftime('%Y-%m-%dT%H:%M:%SZ','now')",
    json_first_int="json_extract({}, '$[0]')",
    greatest="MAX({}, {})",
)

POSTGRESQL = Dialect(
    name="postgresql",
    now_text="to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    json_first_int="(({}::jsonb) ->> 0)::bigint",
    greatest="GREATEST({}, {})",
    share_lock=" FOR SHARE",
)

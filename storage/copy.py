"""copy-db: every row of one Steward database into an empty PostgreSQL database.

The target gets Steward's schema from its own migrations first, so both sides have the same
tables; rows then go in with COPY, parents before the tables whose foreign keys point at them,
in one transaction (a failure leaves the target's tables empty, and a second try may fill them).
Ids keep their values, and each identity sequence then continues after the largest id, so the
next row the bot inserts does not collide with a copied one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storage.database import (
    Column,
    Database,
    PostgresDatabase,
    bundled_migrations,
    describe_target,
)

logger = logging.getLogger(__name__)

SCHEMA_TABLE = "schema_version"  # filled by the target's own migrations, compared, not copied


class CopyRefused(RuntimeError):
    """The target is not an empty PostgreSQL database, or lacks a table of the source."""


@dataclass(frozen=True, slots=True)
class TableCount:
    table: str
    source: int
    target: int

    @property
    def matches(self) -> bool:
        return self.source == self.target


def _converter(column: Column) -> Callable[[Any], Any]:
    """SQLite keeps whatever a column is given; PostgreSQL's columns have one type."""
    if column.type == "INTEGER":

        def to_int(value: Any) -> Any:
            if value is None or isinstance(value, int):
                return value
            return round(float(value))

        return to_int
    if column.type == "REAL":
        return lambda v: v if v is None else float(v)
    if column.type == "TEXT":
        return lambda v: v if v is None or isinstance(v, str) else str(v)
    if column.type == "BLOB":
        return lambda v: v.encode() if isinstance(v, str) else v
    return lambda v: v


def _parents_first(tables: list[str], references: dict[str, set[str]]) -> list[str]:
    ordered: list[str] = []
    seen: set[str] = set()

    def visit(table: str, path: tuple[str, ...]) -> None:
        if table in seen or table in path:
            return
        for parent in sorted(references.get(table, ())):
            if parent in tables:
                visit(parent, (*path, table))
        seen.add(table)
        ordered.append(table)

    for table in tables:
        visit(table, ())
    return ordered


async def ensure_empty(target: PostgresDatabase) -> None:
    """Refuse a database that holds anything: tables of another application, or Steward's
    tables with rows (schema_version aside)."""
    tables = await target.tables()
    if not tables:
        return
    if SCHEMA_TABLE not in tables:
        shown = ", ".join(tables[:5]) + (" …" if len(tables) > 5 else "")
        raise CopyRefused(
            f"the target database {describe_target(target.url)} is not empty (it has "
            f"{len(tables)} tables: {shown}); copy-db only fills an empty database"
        )
    for table in tables:
        if table == SCHEMA_TABLE:
            continue
        row = await target.fetchone(f"SELECT EXISTS (SELECT 1 FROM {table}) AS filled")
        if row[0]:
            raise CopyRefused(
                f"the target database {describe_target(target.url)} is not empty (table "
                f"{table} has rows); copy-db only fills an empty database"
            )


async def count_rows(db: Database, tables: list[str]) -> dict[str, int]:
    counts = {}
    for table in tables:
        row = await db.fetchone(f"SELECT COUNT(*) FROM {table}")
        counts[table] = int(row[0])
    return counts


async def copy_database(
    source: Database, target: PostgresDatabase, batch: int = 5000
) -> list[TableCount]:
    """Copy `source` (open) into `target` (not yet open: it must be empty first). Returns the
    row count of every table on both sides."""
    await target.connect()
    await ensure_empty(target)
    await target.migrate(bundled_migrations("postgresql"))
    source_tables = await source.tables()
    target_tables = set(await target.tables())
    lacking = [t for t in source_tables if t not in target_tables]
    if lacking:
        raise CopyRefused(
            "the target lacks tables of the source: "
            f"{', '.join(lacking)}; does this Steward know every migration of the source?"
        )
    order = _parents_first(
        [t for t in source_tables if t != SCHEMA_TABLE], await target.references()
    )
    async with target.transaction() as tx:
        for table in order:
            source_columns = {c.name for c in await source.columns(table)}
            columns = [c for c in await target.columns(table) if c.name in source_columns]
            names = [c.name for c in columns]
            convert = [_converter(c) for c in columns]
            copied = 0
            async for rows in source.iterate(f"SELECT {', '.join(names)} FROM {table}", batch):
                records = [tuple(f(v) for f, v in zip(convert, row, strict=True)) for row in rows]
                await tx.copy_rows(table, names, records)
                copied += len(records)
            if "id" in names:
                await tx.reset_identity(table)
            logger.info("copied %s: %d rows", table, copied)
    source_counts = await count_rows(source, source_tables)
    target_counts = await count_rows(target, source_tables)
    return [TableCount(t, source_counts[t], target_counts[t]) for t in source_tables]

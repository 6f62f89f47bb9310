"""Reports built from the daily aggregates: a period against the one before it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

from storage.stats import CHAT_FIELDS, StatsRepository

PERIODS = {"7d": 7, "30d": 30, "90d": 90}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# One line of /export_stats' CSV (an empty list is a blank line between sections).
CsvRow: TypeAlias = list[str | int | float | None]


def parse_period(token: str | None, default: int = 7) -> int | None:
    if not token:
        return default
    return PERIODS.get(token.strip().lower())


def change(current: float, previous: float, new: str = "new") -> str:
    """`+12%`, `-5%`, `±0%`, or `new` (the reader's word for it) when there was nothing
    before."""
    if previous == 0:
        return "±0%" if current == 0 else new
    percent = round((current - previous) / previous * 100)
    return "±0%" if percent == 0 else f"{percent:+d}%"


def engagement_rate(post: dict[str, Any]) -> float | None:
    """(reactions + comments) / subscribers at publish × 100: ER by subscribers, not views."""
    members = post.get("members_at_post")
    if not members:
        return None
    rate: float = (post["reactions"] + post["comments"]) / members * 100
    return rate


@dataclass
class ChatReport:
    chat_id: int
    title: str
    kind: str  # "group" | "channel"
    days: int
    first_day: date
    last_day: date
    totals: dict[str, int] = field(default_factory=dict)
    previous: dict[str, int] = field(default_factory=dict)
    series: list[tuple[str, int, int, int]] = field(default_factory=list)  # day, msgs, in, out
    top: list[tuple[str, int]] = field(default_factory=list)
    moderation: dict[str, int] = field(default_factory=dict)
    quizzes: tuple[int, int] = (0, 0)
    giveaways: tuple[int, int] = (0, 0)
    members: list[tuple[str, int]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    complaint_share: dict[str, float] = field(default_factory=dict)  # day -> % (reputation)

    @property
    def empty(self) -> bool:
        """Nothing recorded in the period: no counts, posts or subscriber counts to draw."""
        return not any(self.totals.values()) and not self.posts and not self.members

    @property
    def average_er(self) -> float | None:
        rates = [r for r in (engagement_rate(p) for p in self.posts) if r is not None]
        return sum(rates) / len(rates) if rates else None


def _bounds(first: date, last: date, tz: ZoneInfo) -> tuple[int, int]:
    start = datetime.combine(first, time(0), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
    return int(start.timestamp()), int(end.timestamp())


async def _totals(
    repo: StatsRepository, chat_id: int, first: date, last: date
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    rows = await repo.daily(chat_id, first.isoformat(), last.isoformat())
    totals = {name: sum(r[name] for r in rows) for name in CHAT_FIELDS}
    totals["active_members"] = await repo.active_members(
        chat_id, first.isoformat(), last.isoformat()
    )
    return totals, rows


async def build_report(
    repo: StatsRepository, chat_id: int, title: str, kind: str, days: int, today: date, tz: ZoneInfo
) -> ChatReport:
    """The last `days` days up to and including `today`, and the same span before them."""
    first = today - timedelta(days=days - 1)
    report = ChatReport(chat_id, title, kind, days, first, today)
    report.totals, rows = await _totals(repo, chat_id, first, today)
    report.previous, _ = await _totals(
        repo, chat_id, first - timedelta(days=days), first - timedelta(days=1)
    )
    by_day = {r["day"]: r for r in rows}
    for n in range(days):
        day = (first + timedelta(days=n)).isoformat()
        r = by_day.get(day, {})
        report.series.append((day, r.get("messages", 0), r.get("joins", 0), r.get("leaves", 0)))
    report.top = [
        (t["name"], t["messages"])
        for t in await repo.top_members(chat_id, first.isoformat(), today.isoformat())
    ]
    since, until = _bounds(first, today, tz)
    report.moderation = await repo.moderation_counts(chat_id, since, until)
    report.quizzes = await repo.quiz_participation(chat_id, since, until)
    report.giveaways = await repo.giveaway_participation(chat_id, since, until)
    if kind == "channel":
        report.members = await repo.members_series(chat_id, first.isoformat(), today.isoformat())
        report.posts = await repo.posts(chat_id, since, until)
    return report


@dataclass
class BestTime:
    grid: list[list[float]]  # [weekday][hour] average activity (messages or ER)
    samples: list[list[int]]
    best: tuple[int, int] | None  # (weekday, hour) with enough samples


async def best_time(
    repo: StatsRepository,
    chat_id: int,
    kind: str,
    days: int,
    today: date,
    tz: ZoneInfo,
    min_samples: int = 2,
) -> BestTime:
    """Where engagement is highest, by weekday × hour, counting only well-sampled cells."""
    first = today - timedelta(days=days - 1)
    totals = [[0.0] * 24 for _ in range(7)]
    samples = [[0] * 24 for _ in range(7)]
    if kind == "channel":
        since, until = _bounds(first, today, tz)
        for post in await repo.posts(chat_id, since, until):
            rate = engagement_rate(post)
            if rate is None:
                continue
            local = datetime.fromtimestamp(post["posted_at"], tz)
            totals[local.weekday()][local.hour] += rate
            samples[local.weekday()][local.hour] += 1
    else:
        for row in await repo.hourly(chat_id, first.isoformat(), today.isoformat()):
            weekday = date.fromisoformat(row["day"]).weekday()
            totals[weekday][row["hour"]] += row["messages"]
            samples[weekday][row["hour"]] += 1
    grid = [
        [totals[d][h] / samples[d][h] if samples[d][h] else 0.0 for h in range(24)]
        for d in range(7)
    ]
    candidates = [
        (grid[d][h], d, h) for d in range(7) for h in range(24) if samples[d][h] >= min_samples
    ]
    best = max(candidates)[1:] if candidates else None
    return BestTime(grid, samples, best)


def spreadsheet_safe(row: CsvRow) -> CsvRow:
    """Text cells a spreadsheet would run as a formula (a campaign named `=HYPERLINK(…)` by a
    chat admin, opened by a manager) get a leading apostrophe; numbers stay numbers."""
    return [
        f"'{cell}"
        if isinstance(cell, str) and cell.startswith(("=", "+", "-", "@", "\t", "\r"))
        else cell
        for cell in row
    ]


def csv_rows(report: ChatReport) -> list[CsvRow]:
    """The numbers behind a report, one row per day (and per post for channels)."""
    header: CsvRow = ["chat_id", "day", "messages", "joins", "leaves"]
    rows: list[CsvRow] = [header]
    rows += [[report.chat_id, day, m, j, left] for day, m, j, left in report.series]
    if report.kind == "channel":
        rows.append([])
        rows.append(
            [
                "chat_id",
                "post_id",
                "posted_at_utc",
                "subscribers_at_post",
                "reactions",
                "comments",
                "er_by_subscribers_percent",
            ]
        )
        for post in report.posts:
            er = engagement_rate(post)
            rows.append(
                [
                    report.chat_id,
                    post["message_id"],
                    datetime.fromtimestamp(post["posted_at"], UTC).isoformat(),
                    post["members_at_post"],
                    post["reactions"],
                    post["comments"],
                    "" if er is None else f"{er:.2f}",
                ]
            )
    return rows

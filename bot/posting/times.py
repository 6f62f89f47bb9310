"""Times as a manager types them on a phone, read in the managers' time zone.

Accepted: `18:30` (today, or tomorrow if that has passed), `today 18:30` (today only),
`tomorrow 10:00`, `25.12 18:00`, `25.12.2026 18:00`, `2026-12-25 18:00`, and offsets `+90s`,
`+30m`, `+2h`, `+1d`. The words and units also as a Russian or Dutch manager types them
(`сегодня`/`vandaag`, `завтра`/`morgen`, `+30м`, `+2ч`, `+2u`, `ежедневно`/`dagelijks`, ...).
A local time that does not exist (the hour skipped when clocks go forward) or exists twice (the
hour repeated when they go back) is refused with its own reason instead of being guessed, and
so is a time in the past, an offset that is no time ahead (`+0s`), and a time more than
`MAX_AHEAD` away (a typo such as 2099 would otherwise sit in the queue for decades).
Recurrences: `daily HH:MM`, `weekly <weekday> HH:MM` and five-field cron expressions, all
evaluated in local time so they keep their wall-clock hour across DST.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_OFFSET = re.compile(r"^\+(\d{1,6}) ?([smhdсмчдu])$")
_HM = r"(\d{1,2}):(\d{2})"
_TODAY = re.compile(rf"^{_HM}$")
# the day in each language the bot speaks (en, ru, nl): "today" is today only, never tomorrow
_TODAY_WORD = re.compile(rf"^(?:today|сегодня|vandaag)\s+{_HM}$")
_TOMORROW = re.compile(rf"^(?:tomorrow|завтра|morgen)\s+{_HM}$")
DAILY_WORDS = ("daily", "ежедневно", "dagelijks")
WEEKLY_WORDS = ("weekly", "еженедельно", "wekelijks")
_DMY = re.compile(rf"^(\d{{1,2}})\.(\d{{1,2}})(?:\.(\d{{4}}))?\s+{_HM}$")
_ISO = re.compile(rf"^(\d{{4}})-(\d{{2}})-(\d{{2}})\s+{_HM}$")
# seconds, minutes, hours, days: Latin, Russian (с, м, ч, д) and the Dutch hour (uur)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "с": 1, "м": 60, "ч": 3600, "д": 86400, "u": 3600}
# As far ahead as Telegram's own scheduled messages go: farther is a typo, not a plan.
MAX_AHEAD_DAYS = 365
MAX_AHEAD = timedelta(days=MAX_AHEAD_DAYS)
WEEKDAYS = {
    "mon": 0,
    "monday": 0,
    "пн": 0,
    "понедельник": 0,
    "ma": 0,
    "maandag": 0,
    "tue": 1,
    "tuesday": 1,
    "вт": 1,
    "вторник": 1,
    "di": 1,
    "dinsdag": 1,
    "wed": 2,
    "wednesday": 2,
    "ср": 2,
    "среда": 2,
    "wo": 2,
    "woensdag": 2,
    "thu": 3,
    "thursday": 3,
    "чт": 3,
    "четверг": 3,
    "do": 3,
    "donderdag": 3,
    "fri": 4,
    "friday": 4,
    "пт": 4,
    "пятница": 4,
    "vr": 4,
    "vrijdag": 4,
    "sat": 5,
    "saturday": 5,
    "сб": 5,
    "суббота": 5,
    "za": 5,
    "zaterdag": 5,
    "sun": 6,
    "sunday": 6,
    "вс": 6,
    "воскресенье": 6,
    "zo": 6,
    "zondag": 6,
}


# A recurring post repeats at most this often, as posting slots do (MAX_SLOTS_PER_DAY); the
# first REPEAT_CHECKS occurrences of the coming week are looked at.
MIN_REPEAT = timedelta(minutes=30)
REPEAT_CHECKS = 400


class TimeProblem(StrEnum):
    UNKNOWN = "unknown"  # not a time this parser reads
    PAST = "past"
    NONEXISTENT = "nonexistent"  # skipped when the clocks go forward
    AMBIGUOUS = "ambiguous"  # happens twice when the clocks go back
    INVALID = "invalid"  # read as a time, but no such date or hour (31.02, 25:00)
    NOT_AHEAD = "not_ahead"  # an offset of nothing: +0s, +0m
    TOO_FAR = "too_far"  # more than MAX_AHEAD from now
    TOO_OFTEN = "too_often"  # a recurrence repeating within MIN_REPEAT (`* 9 * * *`)


class TimeError(ValueError):
    def __init__(self, code: TimeProblem) -> None:
        super().__init__(code)
        self.code = code


def local_to_utc(day: date, hour: int, minute: int, tz: ZoneInfo) -> datetime:
    """A wall-clock time that must exist exactly once in `tz`."""
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise TimeError(TimeProblem.INVALID)
    naive = datetime.combine(day, time(hour, minute))
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    try:
        if first.utcoffset() != second.utcoffset():
            # fold=0/1 differ: either the time is repeated, or it falls in a gap. A gap is a
            # time that does not survive the round trip through UTC.
            round_trip = first.astimezone(UTC).astimezone(tz)
            if round_trip.replace(tzinfo=None) != naive:
                raise TimeError(TimeProblem.NONEXISTENT)
            raise TimeError(TimeProblem.AMBIGUOUS)
        return first.astimezone(UTC)
    except OverflowError:  # 31.12.9999 west of UTC, 01.01.0001 east of it: no such moment
        raise TimeError(TimeProblem.INVALID) from None


def parse_time(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """The UTC moment a manager means by `text`; `now` is aware (any zone)."""
    value = " ".join(text.strip().lower().split())
    local_now = now.astimezone(tz)
    if match := _OFFSET.match(value):
        seconds = int(match[1]) * _UNITS[match[2]]
        if seconds <= 0:
            raise TimeError(TimeProblem.NOT_AHEAD)
        return within_reach(now.astimezone(UTC) + timedelta(seconds=seconds), now)
    if match := _TODAY.match(value):
        hour, minute = int(match[1]), int(match[2])
        result = local_to_utc(local_now.date(), hour, minute, tz)
        if result <= now:
            result = local_to_utc(local_now.date() + timedelta(days=1), hour, minute, tz)
        return result
    if match := _TODAY_WORD.match(value):
        result = local_to_utc(local_now.date(), int(match[1]), int(match[2]), tz)
    elif match := _TOMORROW.match(value):
        result = local_to_utc(
            local_now.date() + timedelta(days=1), int(match[1]), int(match[2]), tz
        )
    elif match := _DMY.match(value):
        day, month, year = int(match[1]), int(match[2]), match[3]
        try:
            target = date(int(year) if year else local_now.year, month, day)
        except ValueError:
            raise TimeError(TimeProblem.INVALID) from None
        if not year and datetime.combine(target, time(23, 59), tz) < local_now:
            target = target.replace(year=target.year + 1)  # "25.12" in late December
        result = local_to_utc(target, int(match[4]), int(match[5]), tz)
    elif match := _ISO.match(value):
        try:
            target = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            raise TimeError(TimeProblem.INVALID) from None
        result = local_to_utc(target, int(match[4]), int(match[5]), tz)
    else:
        raise TimeError(TimeProblem.UNKNOWN)
    if result <= now:
        raise TimeError(TimeProblem.PAST)
    return within_reach(result, now)


def within_reach(moment: datetime, now: datetime) -> datetime:
    """`moment`, unless it is more than MAX_AHEAD after `now`."""
    if moment - now > MAX_AHEAD:
        raise TimeError(TimeProblem.TOO_FAR)
    return moment


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A repeating schedule kept as the text the manager typed, evaluated in local time."""

    spec: str
    trigger: CronTrigger

    def next_after(self, moment: datetime) -> datetime | None:
        """The next fire time after `moment`, in UTC. When the clocks go back, a wall-clock
        time happens twice; the trigger would fire in both, so the second is skipped and the
        post goes out once at its local time."""
        fire = self.trigger.get_next_fire_time(None, moment)
        while fire is not None and _repeated(fire):
            # past it in UTC: wall-clock arithmetic would land on the first occurrence again
            fire = self.trigger.get_next_fire_time(
                None, fire.astimezone(UTC) + timedelta(seconds=1)
            )
        return fire.astimezone(UTC) if fire else None

    def too_often(self, moment: datetime) -> bool:
        """Whether two occurrences in the week after `moment` come closer than MIN_REPEAT: a
        cron typo such as `* 9 * * *` (every minute of 9 o'clock) would fill the channel."""
        fire, end = self.next_after(moment), moment + timedelta(days=8)
        for _ in range(REPEAT_CHECKS):
            if fire is None or fire > end:
                return False
            following = self.next_after(fire + timedelta(seconds=1))
            if following is not None and following - fire < MIN_REPEAT:
                return True
            fire = following
        return False


def _repeated(moment: datetime) -> bool:
    """The second occurrence of a local time the clocks went back over."""
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def parse_recurrence(text: str, tz: ZoneInfo) -> Recurrence:
    value = " ".join(text.strip().lower().split())
    parts = value.split()
    try:
        head = parts[0] if parts else ""
        if head in DAILY_WORDS and len(parts) == 2 and (m := _TODAY.match(parts[1])):
            trigger = CronTrigger(hour=int(m[1]), minute=int(m[2]), timezone=tz)
        elif (
            head in WEEKLY_WORDS
            and len(parts) == 3
            and parts[1] in WEEKDAYS
            and (m := _TODAY.match(parts[2]))
        ):
            trigger = CronTrigger(
                day_of_week=WEEKDAYS[parts[1]], hour=int(m[1]), minute=int(m[2]), timezone=tz
            )
        elif len(parts) == 5:
            trigger = CronTrigger.from_crontab(value, timezone=tz)
        else:
            raise TimeError(TimeProblem.UNKNOWN)
    except ValueError as exc:
        if isinstance(exc, TimeError):
            raise
        raise TimeError(TimeProblem.INVALID) from None
    return Recurrence(value, trigger)

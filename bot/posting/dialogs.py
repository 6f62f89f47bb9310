"""What the posting, compose and Mini App handlers share: the states of a manager's typed
answers, and the words for a time that cannot be used."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup
from aiogram.utils.i18n import gettext as _

from bot.posting.times import TimeProblem


class Reschedule(StatesGroup):
    waiting_for_time = State()


class EditPost(StatesGroup):
    content = State()


def time_error_text(code: TimeProblem) -> str:
    return {
        TimeProblem.PAST: _("That time has already passed."),
        TimeProblem.NONEXISTENT: _(
            "That local time does not exist: the clocks skip it that night."
        ),
        TimeProblem.AMBIGUOUS: _(
            "That local time happens twice that night (clocks go back); pick another minute."
        ),
        TimeProblem.INVALID: _("That date or time does not exist."),
    }.get(
        code,
        _(
            "I don't understand the time. Use 18:30, tomorrow 10:00, 25.12 18:00, "
            "2026-12-25 18:00 or +30m."
        ),
    )

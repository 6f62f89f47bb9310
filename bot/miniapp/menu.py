"""Each manager's menu button opening the calendar, kept in step with MINIAPP_URL, MANAGER_IDS and
the manager's language.

Telegram refuses `setChatMenuButton` for a user who never started the bot, so setting every
manager's button once at start-up leaves out exactly the managers who most need it: the new ones.
Here a manager whose button is not current gets it at start-up when Telegram can reach them, else
on their next private message (or when they unblock the bot), and an hourly retry covers someone
who started the bot while it could not see them. What each user was given is recorded, so a
message from a manager whose button is current costs a dictionary lookup, not an API call; a
changed MINIAPP_URL or language sets it again, and a user who is no longer a manager, or a bot
without a Mini App, gets Telegram's default button back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from enum import Enum

from bot.clock import SYSTEM_CLOCK, Clock
from bot.config import Settings
from storage.menu_buttons import MenuButtonRepository, MenuButtonState

logger = logging.getLogger(__name__)

RETRY_SECONDS = 3600


class MenuChange(Enum):
    NONE = "none"  # already as it should be
    SET = "set"  # the calendar button, new or with a new address or language
    RESET = "reset"  # Telegram's default button: not a manager any more, or no Mini App


class Delivery(Enum):
    """What Telegram said to a setChatMenuButton."""

    OK = "ok"
    REFUSED = "refused"  # a 4xx: e.g. the user never started the bot; nothing to retry at once
    FAILED = "failed"  # network, 429 or 5xx: worth another try later


def plan(wanted: MenuButtonState | None, current: MenuButtonState | None) -> MenuChange:
    if wanted is None:
        return MenuChange.RESET if current is not None else MenuChange.NONE
    return MenuChange.NONE if current == wanted else MenuChange.SET


# Sets (a state) or resets (None) one user's menu button in Telegram.
ApplyButton = Callable[[int, MenuButtonState | None], Awaitable[Delivery]]


class MenuButtons:
    def __init__(
        self,
        settings: Settings,
        repo: MenuButtonRepository,
        apply: ApplyButton,
        locale_for: Callable[[int], Awaitable[str]],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.apply = apply
        self.locale_for = locale_for
        self.clock = clock
        self._given: dict[int, MenuButtonState] = {}
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def load(self) -> None:
        self._given = await self.repo.all()

    def wanted(self, user_id: int, locale: str) -> MenuButtonState | None:
        settings = self.settings
        if settings.miniapp_public and settings.is_manager(user_id):
            assert settings.miniapp_url is not None
            return MenuButtonState(settings.miniapp_url, locale)
        return None

    def concerns(self, user_id: int) -> bool:
        """Whether a message from this user may need a button change (cheap, no I/O)."""
        return self.settings.is_manager(user_id) or user_id in self._given

    async def ensure(self, user_id: int, locale: str | None = None) -> tuple[MenuChange, Delivery]:
        """Brings one user's button to what it should be; at most one API call, none when it
        already is. `locale` is the language to label it in when the caller knows it."""
        if not self.concerns(user_id):
            return MenuChange.NONE, Delivery.OK
        async with self._locks[user_id]:  # two quick messages: one call
            wanted = self.wanted(user_id, locale or await self.locale_for(user_id))
            change = plan(wanted, self._given.get(user_id))
            if change is MenuChange.NONE:
                return change, Delivery.OK
            delivery = await self.apply(user_id, wanted)
            if change is MenuChange.SET and delivery is Delivery.OK:
                assert wanted is not None
                await self.repo.record(user_id, wanted, int(self.clock()))
                self._given[user_id] = wanted
            elif change is MenuChange.RESET and delivery is not Delivery.FAILED:
                # refused: the user cannot see the bot's button anyway; forget it either way
                await self.repo.forget(user_id)
                self._given.pop(user_id, None)
            return change, delivery

    async def sync(self) -> dict[str, int]:
        """Every manager and every user who was given a button: at start-up and hourly (read
        again first: with several workers, another may have set some meanwhile)."""
        await self.load()
        counts: dict[str, int] = defaultdict(int)
        for user_id in sorted(self.settings.manager_ids | set(self._given)):
            change, delivery = await self.ensure(user_id)
            if change is not MenuChange.NONE:
                counts[f"{change.value}:{delivery.value}"] += 1
        return dict(counts)

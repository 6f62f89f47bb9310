"""Role resolution: managers, cached chat admins, anonymous admins."""

from __future__ import annotations

from aiogram.types import Message

from bot.config import load_settings
from bot.roles import Requirement, Roles, RoleService
from tests.fake_telegram import FakeTelegram

GROUP = -100777


class CountingBot:
    """Stands in for aiogram's Bot with only the call RoleService makes."""

    def __init__(self, admins: list[int]) -> None:
        self.admins = admins
        self.calls = 0

    async def get_chat_administrators(self, chat_id):
        from aiogram.types import ChatMemberAdministrator, ChatMemberOwner, User

        self.calls += 1
        owner = ChatMemberOwner(
            user=User(id=self.admins[0], is_bot=False, first_name="O"), is_anonymous=False
        )
        others = [
            ChatMemberAdministrator.model_validate(
                FakeTelegram()._admin_member({"id": a, "is_bot": False, "first_name": "A"})
            )
            for a in self.admins[1:]
        ]
        return [owner, *others]


def service(admins=(1, 2), ttl=600.0, clock=None):
    settings = load_settings(env_file=None, environ={"BOT_TOKEN": "1:abc", "MANAGER_IDS": "99"})
    bot = CountingBot(list(admins))
    kwargs = {"clock": clock} if clock else {}
    return RoleService(settings, bot, ttl=ttl, **kwargs), bot


def group_message(**fields) -> Message:
    data = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": GROUP, "type": "supergroup", "title": "G"},
        "text": "/ban",
    }
    data.update(fields)
    return Message.model_validate(data)


async def test_admins_are_cached_until_ttl():
    now = [0.0]
    roles, bot = service(clock=lambda: now[0])
    assert await roles.is_chat_admin(GROUP, 1)
    assert await roles.is_chat_admin(GROUP, 2)
    assert not await roles.is_chat_admin(GROUP, 3)
    assert bot.calls == 1
    now[0] = 601
    assert await roles.is_chat_admin(GROUP, 1)
    assert bot.calls == 2


async def test_invalidate_and_remembered_promotion():
    roles, bot = service()
    assert not await roles.is_chat_admin(GROUP, 5)
    roles.remember_status(GROUP, 5, "administrator")
    assert await roles.is_chat_admin(GROUP, 5)
    roles.remember_status(GROUP, 1, "member")
    assert not await roles.is_chat_admin(GROUP, 1)
    roles.invalidate(GROUP)
    assert await roles.is_chat_admin(GROUP, 1)
    assert bot.calls == 2


async def test_anonymous_admin_is_the_group_itself():
    roles, bot = service()
    anon = group_message(
        **{
            "from": {"id": 1087968824, "is_bot": True, "first_name": "Group"},
            "sender_chat": {"id": GROUP, "type": "supergroup", "title": "G"},
        }
    )
    assert await roles.is_message_from_admin(anon)
    assert bot.calls == 0  # no lookup needed


async def test_placeholder_user_or_other_chat_identity_proves_nothing():
    roles, _ = service()
    placeholder = group_message(**{"from": {"id": 1087968824, "is_bot": True, "first_name": "G"}})
    assert not await roles.is_message_from_admin(placeholder)
    channel_identity = group_message(
        **{
            "from": {"id": 136817688, "is_bot": True, "first_name": "Channel"},
            "sender_chat": {"id": -100555, "type": "channel", "title": "Other"},
        }
    )
    assert not await roles.is_message_from_admin(channel_identity)


async def test_managers_and_requirements():
    roles, _ = service()
    assert roles.is_manager(99) and not roles.is_manager(1)
    member_msg = group_message(**{"from": {"id": 3, "is_bot": False, "first_name": "M"}})
    r = await roles.roles_for_message(member_msg)
    assert r == Roles(is_manager=False, is_admin=False)
    assert r.satisfies(Requirement.MEMBER) and not r.satisfies(Requirement.ADMIN)
    assert Roles(True, False).satisfies(Requirement.ADMIN_OR_MANAGER)
    assert not Roles(True, False).satisfies(Requirement.ADMIN)


async def test_private_chat_has_no_admins():
    roles, bot = service()
    assert not await roles.is_chat_admin(42, 1)
    assert bot.calls == 0

"""Every command's menu entry (bot/commands.py) and its handler agree: each command in the
table has a handler, each handled command is in the table, and the handler's role and chat
flags are the table's."""

from __future__ import annotations

from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot.commands import COMMANDS, SPECS, command_flags
from bot.middlewares import addressed_to_bot
from bot.roles import Requirement
from handlers import build_routers, reaches_routers
from handlers.membership import has_new_members


def handled_commands() -> dict[str, list[dict]]:
    """Command name -> the flags of every message handler that takes it."""
    found: dict[str, list[dict]] = {}
    pending = list(build_routers())
    while pending:
        router = pending.pop()
        pending += router.sub_routers
        for handler in router.message.handlers:
            for filter_ in handler.filters or []:
                command = filter_.callback
                if isinstance(command, CommandStart):
                    names = ["start"]
                elif isinstance(command, Command):
                    names = [c for c in command.commands if isinstance(c, str)]
                else:
                    continue
                for name in names:
                    found.setdefault(name, []).append(dict(handler.flags))
    return found


def enforced(flags: dict) -> dict:
    return {k: v for k, v in flags.items() if k in {"role", "chat", "right"}}


def test_every_command_in_the_table_has_a_handler_and_back():
    handled = handled_commands()
    assert set(handled) == {spec.name for spec in COMMANDS}


def test_handlers_enforce_the_tables_role_and_place():
    for name, flag_sets in handled_commands().items():
        for flags in flag_sets:
            assert enforced(flags) == enforced(command_flags(name)), name


def test_command_flags_follow_the_table():
    assert command_flags("help") == {}
    assert command_flags("warn") == {
        "role": "admin",
        "chat": "group",
        "right": "can_restrict_members",
    }
    assert command_flags("mute", "unmute", needs_roles=True) == {
        "role": "admin",
        "chat": "group",
        "right": "can_restrict_members",
        "needs_roles": True,
    }
    assert command_flags("purge")["right"] == "can_delete_messages"
    assert command_flags("filter")["right"] == "can_delete_messages"  # the blocklist deletes
    assert command_flags("settings")["right"] == "can_change_info"
    assert "right" not in command_flags("filters")  # looking changes nothing
    assert SPECS["block"].role is Requirement.ADMIN_OR_MANAGER  # a private desk too
    try:
        command_flags("warn", "warns")
    except ValueError:
        pass
    else:
        raise AssertionError("commands with different roles were accepted together")


def guarded_message_handlers() -> list[tuple[str, object, set]]:
    """(router, handler callback, the filters guarding it: its own and its routers') for every
    message handler in the tree."""
    found = []
    pending = [(router, set()) for router in build_routers()]
    while pending:
        router, inherited = pending.pop()
        guards = inherited | {f.callback for f in router.message._handler.filters or []}
        pending += [(sub, guards) for sub in router.sub_routers]
        for handler in router.message.handlers:
            own = {f.callback for f in handler.filters or []}
            found.append((router.name, handler.callback, guards | own))
    return found


def test_every_message_handler_is_behind_the_dispatchers_gate():
    """`reaches_routers` lets only what some router can take down the tree: every message
    handler must sit behind one of the two conditions it checks."""
    handlers = guarded_message_handlers()
    assert len(handlers) > 20
    for router, callback, guards in handlers:
        assert guards & {addressed_to_bot, has_new_members}, (router, callback)


def _message(chat_type: str, text: str | None = "hello there", **extra) -> Message:
    return Message.model_validate(
        {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 5 if chat_type == "private" else -100, "type": chat_type},
            "from": {"id": 5, "is_bot": False, "first_name": "A"},
            "text": text,
            **extra,
        }
    )


async def test_the_gate_passes_what_a_router_takes_and_nothing_else():
    assert not await reaches_routers(_message("supergroup", "does anyone know the time?"))
    assert not await reaches_routers(_message("group", None))
    assert await reaches_routers(_message("supergroup", "/warn spam"))
    assert await reaches_routers(_message("private", "hello"))
    reply = {"message_id": 0, "date": 0, "chat": {"id": -100, "type": "supergroup"}, "text": "x"}
    assert await reaches_routers(_message("supergroup", "@admin look", reply_to_message=reply))
    assert not await reaches_routers(_message("supergroup", "look", reply_to_message=reply))
    joined = [{"id": 6, "is_bot": False, "first_name": "B"}]
    assert await reaches_routers(_message("supergroup", None, new_chat_members=joined))


def test_the_spam_scorer_reads_a_command_of_this_bot_by_its_arguments_alone():
    """A new member's "/giveaway_verify 1" was scored as chat (the command word plus a digit sat
    nearest short spam samples) and the member was banned; another bot's command is still text."""
    from datetime import datetime

    from aiogram.types import Chat, MessageEntity, PhotoSize, User

    from bot.commands import without_own_command
    from handlers.protection import features_of

    assert without_own_command("/giveaway_verify 1", 16, "steward_bot") == "1"
    assert without_own_command("/Rules@Steward_Bot", 18, "steward_bot") == ""
    assert without_own_command("/start@promo_bot earn $500", 16, "steward_bot") == (
        "/start@promo_bot earn $500"
    )
    assert without_own_command("/earnmoney now", 10, "steward_bot") == "/earnmoney now"

    def message(text: str, entities: list[MessageEntity]) -> Message:
        return Message(
            message_id=1,
            date=datetime(2026, 1, 1),
            chat=Chat(id=-100, type="supergroup"),
            from_user=User(id=5, is_bot=False, first_name="Ann"),
            text=text,
            entities=entities,
        )

    command = MessageEntity(type="bot_command", offset=0, length=16)
    assert features_of(message("/giveaway_verify 1", [command]), "steward_bot").text == "1"
    spam = "/giveaway_verify join @cash_group now"
    mention = MessageEntity(type="mention", offset=22, length=11)
    features = features_of(message(spam, [command, mention]), "steward_bot")
    assert (features.text, features.mentions) == ("join @cash_group now", 1)
    # a command in a photo's caption, as Telegram marks it (a caption entity), reads the same
    photo = Message(
        message_id=2,
        date=datetime(2026, 1, 1),
        chat=Chat(id=-100, type="supergroup"),
        from_user=User(id=5, is_bot=False, first_name="Ann"),
        photo=[PhotoSize(file_id="p", file_unique_id="u", width=9, height=9)],
        caption="/giveaway_verify 1",
        caption_entities=[command],
    )
    assert features_of(photo, "steward_bot").text == "1"


def test_typed_ids_stop_at_what_the_database_can_hold():
    from bot.texts import BIGGEST_ID, typed_chat_id, typed_id

    assert typed_id("12") == 12 and typed_id(" #12 ") == 12
    assert typed_id(str(BIGGEST_ID)) == BIGGEST_ID
    for bad in ("", "0", "-3", "12a", "²", "##4", str(BIGGEST_ID + 1), "9" * 40):
        assert typed_id(bad) is None, bad
    assert typed_chat_id("-1001234567890") == -1001234567890 and typed_chat_id("42") == 42
    for bad in ("--5", "-", "@chan", "0", "-" + "9" * 20, "²"):
        assert typed_chat_id(bad) is None, bad

"""Every command's menu entry (bot/commands.py) and its handler agree: each command in the
table has a handler, each handled command is in the table, and the handler's role and chat
flags are the table's."""

from __future__ import annotations

from aiogram.filters import Command, CommandStart

from bot.commands import COMMANDS, SPECS, command_flags
from bot.roles import Requirement
from handlers import build_routers


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
    return {k: v for k, v in flags.items() if k in {"role", "chat"}}


def test_every_command_in_the_table_has_a_handler_and_back():
    handled = handled_commands()
    assert set(handled) == {spec.name for spec in COMMANDS}


def test_handlers_enforce_the_tables_role_and_place():
    for name, flag_sets in handled_commands().items():
        for flags in flag_sets:
            assert enforced(flags) == enforced(command_flags(name)), name


def test_command_flags_follow_the_table():
    assert command_flags("help") == {}
    assert command_flags("warn") == {"role": "admin", "chat": "group"}
    assert command_flags("mute", "unmute", needs_roles=True) == {
        "role": "admin",
        "chat": "group",
        "needs_roles": True,
    }
    assert SPECS["block"].role is Requirement.ADMIN
    try:
        command_flags("warn", "warns")
    except ValueError:
        pass
    else:
        raise AssertionError("commands with different roles were accepted together")

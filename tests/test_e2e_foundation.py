"""End-to-end: the real bot against the fake Telegram server."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest

from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID, RunningBot

GROUP_ID = -1001000000001


@pytest.mark.parametrize(
    ("language_code", "greeting", "heading"),
    [
        ("en", "Hello, Ann! I am Steward", "Commands you can use here:"),
        ("ru", "Здравствуйте, Ann! Я Steward", "Команды, доступные вам здесь:"),
        ("nl", "Hallo, Ann! Ik ben Steward", "Commando's die je hier kunt gebruiken:"),
        (
            "de",
            "Hello, Ann! I am Steward",
            "Commands you can use here:",
        ),  # fallback: first of LANGUAGES
        ("ru-RU", "Здравствуйте, Ann!", "Команды, доступные вам здесь:"),
    ],
)
async def test_start_and_help_speak_the_users_language(
    steward: RunningBot, fake: FakeTelegram, language_code, greeting, heading
):
    user = fake.user(501, "Ann", language_code=language_code)
    chat = fake.private_chat(user)
    await fake.send_message(chat, user, "/start")
    call = await fake.wait_for("sendMessage")
    assert call["chat_id"] == 501
    assert call["text"].startswith(greeting)
    assert heading in call["text"]
    assert "/help" in call["text"]

    await fake.send_message(chat, user, "/help")
    call = await fake.wait_for("sendMessage")
    assert call["text"].startswith(heading)
    assert "/start" in call["text"]
    # a member does not see manager commands
    assert "For managers" not in call["text"] and "Для менеджеров" not in call["text"]


async def test_registers_scoped_command_menus(steward: RunningBot, fake: FakeTelegram):
    """The manager had never started the bot when it started, so Telegram refused their own
    menu ("chat not found") and they never got it, however often they wrote to the bot: it
    is set after their first private message."""
    scopes = {(json.loads(scope)["type"], lang) for scope, lang in fake.commands}
    for scope in ("all_private_chats", "all_group_chats", "all_chat_administrators"):
        for lang in (None, "en", "ru", "nl"):
            assert (scope, lang) in scopes, (scope, lang)
    manager_scope = json.dumps({"type": "chat", "chat_id": MANAGER_ID}, sort_keys=True)
    ru_private = fake.commands[(json.dumps({"type": "all_private_chats"}), "ru")]
    assert {"command": "help", "description": "список доступных вам команд"} in ru_private
    assert not any(scope == manager_scope for scope, _lang in fake.commands)
    manager = fake.user(MANAGER_ID, "Manny")
    await fake.send_message(fake.private_chat(manager), manager, "/start")
    await fake.wait_for(
        "setMyCommands", lambda c: c["scope"] == {"type": "chat", "chat_id": MANAGER_ID}, count=4
    )
    for lang in (None, "en", "ru", "nl"):
        assert (manager_scope, lang) in fake.commands, lang
    manager_menu = [c["command"] for c in fake.commands[(manager_scope, "en")]]
    assert "schedule" in manager_menu and "channel_add" in manager_menu
    mark = fake.mark()
    await fake.send_message(fake.private_chat(manager), manager, "/help")
    await fake.wait_for("sendMessage", since=mark)
    await steward.idle()
    assert not fake.calls_of("setMyCommands", since=mark)  # set once, not at every message


async def test_bot_added_to_group_registers_admin_menu_for_it(
    steward: RunningBot, fake: FakeTelegram
):
    chat = fake.add_chat(GROUP_ID, title="Fans")
    owner = fake.user(11, "Olga")
    mark = fake.mark()
    await fake.push_update(
        {
            "my_chat_member": {
                "chat": chat,
                "from": owner,
                "date": fake.now(),
                "old_chat_member": {"status": "left", "user": fake.bot_user},
                "new_chat_member": {"status": "member", "user": fake.bot_user},
            }
        }
    )
    call = await fake.wait_for(
        "setMyCommands", lambda c: c["scope"]["type"] == "chat_administrators", since=mark
    )
    assert call["scope"]["chat_id"] == GROUP_ID


async def test_help_in_group_shows_admin_commands_only_to_admins(
    steward: RunningBot, fake: FakeTelegram
):
    chat = fake.add_chat(GROUP_ID)
    admin, member = fake.user(21, "Admin"), fake.user(22, "Member")
    fake.add_member(GROUP_ID, admin, "administrator")
    fake.add_member(GROUP_ID, member)
    await fake.send_message(chat, member, "/help")
    member_help = await fake.wait_for("sendMessage")
    assert "For chat admins" not in member_help["text"]
    assert member_help["reply_parameters"]["message_id"]  # answered as a reply
    # the group itself as sender (an anonymous admin) is an admin; GroupAnonymousBot's id in
    # `from` alone proves nothing
    anonymous = fake.user(1087968824, "Group", username="GroupAnonymousBot", is_bot=True)
    await fake.send_message(chat, anonymous, "/help", sender_chat=chat)
    assert "For chat admins" in (await fake.wait_for("sendMessage")).plain
    await fake.send_message(chat, anonymous, "/help")
    assert "For chat admins" not in (await fake.wait_for("sendMessage")).plain
    await fake.send_message(chat, anonymous, "/modlog")
    refused = await fake.wait_for("sendMessage")
    assert refused.plain == "Only admins of this chat can use this command."


async def test_handler_error_is_logged_user_gets_apology_and_polling_continues(
    steward: RunningBot, fake: FakeTelegram, caplog
):
    user = fake.user(601, "Bob", language_code="nl")
    chat = fake.private_chat(user)
    fake.fail("sendMessage", 400, description="Bad Request: can't parse entities")
    await fake.send_message(chat, user, "/help")
    apology = await fake.wait_for("sendMessage", count=2)
    assert apology["text"].startswith("Sorry, er ging aan mijn kant iets mis")
    assert any("failed" in r.getMessage() and "update" in r.getMessage() for r in caplog.records)

    await fake.send_message(chat, user, "/help")
    again = await fake.wait_for("sendMessage")
    assert again["text"].startswith("Commando's die je hier kunt gebruiken")


async def test_429_is_retried_once_after_retry_after(steward: RunningBot, fake: FakeTelegram):
    user = fake.user(701, "Cat")
    chat = fake.private_chat(user)
    fake.fail("sendMessage", 429, retry_after=1)
    await fake.send_message(chat, user, "/help")
    second = await fake.wait_for("sendMessage", count=2)
    calls = [c for c in fake.calls if c.method == "sendMessage"]
    assert len(calls) == 2
    first = calls[0]
    assert second.at - first.at >= 1.0
    await fake.assert_no_call("sendMessage", within=0.5, since=second.index + 1)


async def test_500_is_retried_with_backoff(steward: RunningBot, fake: FakeTelegram):
    user = fake.user(702, "Dan")
    chat = fake.private_chat(user)
    fake.fail("sendMessage", 500, times=3)
    await fake.send_message(chat, user, "/help")
    fourth = await fake.wait_for("sendMessage", count=4, timeout=15)
    calls = [c for c in fake.calls if c.method == "sendMessage"]
    assert len(calls) == 4
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(calls)]
    # exponential, jittered by ±25 %: 0.5 s, 1 s, 2 s; the chat's pace (a message a second
    # after the last one's answer) lifts the first two to about a second, not the third
    assert gaps[0] >= 0.5 * 0.75 and gaps[1] >= 1.0 * 0.75 and gaps[2] >= 2.0 * 0.75
    assert gaps[2] > gaps[0]
    assert fourth["text"].startswith("Commands you can use here:")


async def test_dropped_connection_is_retried(steward: RunningBot, fake: FakeTelegram):
    user = fake.user(703, "Eve")
    chat = fake.private_chat(user)
    fake.fail("sendMessage", drop=True)
    await fake.send_message(chat, user, "/help")
    await fake.wait_for("sendMessage", count=2)
    assert len(fake.calls_of("sendMessage")) == 2


async def test_stop_finishes_in_flight_handler_and_closes_cleanly(
    steward: RunningBot, fake: FakeTelegram, caplog
):
    user = fake.user(801, "Fay")
    chat = fake.private_chat(user)
    fake.fail("sendMessage", 200, delay=1.0)  # a slow Telegram answer, then success
    update_id = await fake.push_update({"message": fake.new_message(chat, user, "/help")})
    await fake.wait_for("sendMessage")
    app = steward.app
    assert app.in_flight.running == 1  # the reply is still on its way
    caplog.set_level("INFO", logger="aiogram.event")
    await steward.stop()
    # the handler ran to its end instead of being cancelled with the polling loop
    assert any(f"Update id={update_id} is handled" in r.getMessage() for r in caplog.records)
    assert app.in_flight.running == 0
    assert not app.db.is_open
    assert not app.scheduler.running


async def test_state_survives_restart(steward: RunningBot, fake: FakeTelegram):
    user = fake.user(901, "Gus")
    chat = fake.private_chat(user)
    await fake.send_message(chat, user, "/start")
    await fake.wait_for("sendMessage")
    await steward.restart()
    from storage.chats import UserRepository

    assert await UserRepository(steward.app.db).has_started(901)
    await fake.send_message(chat, user, "/help")
    await fake.wait_for("sendMessage")


async def test_polls_with_allowed_updates_every_feature_needs(steward: RunningBot, fake):
    for kind in (
        "message",
        "edited_message",
        "callback_query",
        "chat_member",
        "my_chat_member",
        "poll_answer",
        "message_reaction_count",
    ):
        assert kind in fake.allowed_updates
    # every update type some router handles is asked for (a new feature's handler for a type
    # nobody asks for would never run); edits and joins are read by outer middlewares
    used = set(steward.app.dispatcher.resolve_used_update_types())
    assert used <= set(fake.allowed_updates), used - set(fake.allowed_updates)


async def test_token_is_never_logged(steward: RunningBot, fake: FakeTelegram, caplog):
    user = fake.user(902, "Hal")
    await fake.send_message(fake.private_chat(user), user, "/help")
    await fake.wait_for("sendMessage")
    await asyncio.sleep(0.1)
    secret = fake.token.split(":")[1]
    assert all(secret not in r.getMessage() for r in caplog.records)


APOLOGY = "went wrong on my side"


async def test_ids_too_big_or_malformed_get_an_answer_not_an_apology(
    steward: RunningBot, fake: FakeTelegram, caplog
):
    """A number past the database's integer range (SQLite will not even compare with it) or a
    malformed one ("--5", "²") used to fail the update with an apology; now it is just not an id."""
    big = "9" * 23
    manager = fake.user(MANAGER_ID, "Boss")
    private = fake.private_chat(manager)
    typed = [
        f"/giveaway_verify {big}",
        f"/giveaway_end #{big}",
        f"/quiz_del {big}",
        "/quiz_stop --5",
        "/reroll ²",
        f"/faq_del {big}",
    ]
    chat = fake.add_chat(GROUP_ID)
    admin = fake.user(31, "Ada")
    fake.add_member(GROUP_ID, admin, "administrator")
    in_group = [f"/notspam {big}", "/setlog --5", f"/quiz_start {big}"]
    mark = fake.mark()
    for text in typed:
        await fake.send_message(private, manager, text)
    for text in in_group:
        await fake.send_message(chat, admin, text)
    await steward.idle()
    replies = await fake.wait_for(
        "sendMessage", since=mark, count=len(typed) + len(in_group), timeout=20
    )
    answers = [c.plain for c in fake.calls_of("sendMessage", mark)]
    assert replies and not [a for a in answers if APOLOGY in a], answers
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_every_command_answers_a_plain_member_or_refuses_clearly(
    steward: RunningBot, fake: FakeTelegram, caplog
):
    """Each command of the table, bare, from a member who is neither an admin nor a manager,
    in a group and in private: the answer or the refusal the table promises, in the member's
    language; never silence, never an apology. A member who is no manager hears that first,
    wherever they ask; a private chat has no admins, so the refusal there does not name them."""
    from bot.commands import COMMANDS, Where
    from bot.roles import Requirement

    i18n = steward.app.i18n
    languages = ("en", "ru", "nl")

    def expected(spec, chat_type: str, locale: str) -> str | None:
        """The refusal the member must get; None where the command is theirs to use."""
        if spec.role is Requirement.MANAGER:
            msgid = "Only Steward's managers can use this command."
        elif not spec.usable_in(chat_type):
            msgid = (
                "This command works in a private chat with me."
                if spec.where is Where.PRIVATE
                else "This command works in groups only."
            )
        elif spec.role is Requirement.ADMIN:
            msgid = "Only admins of this chat can use this command."
        elif spec.role is Requirement.ADMIN_OR_MANAGER:
            msgid = (
                "Here only Steward's managers can use this command; "
                "chat admins use it in their group."
                if chat_type == "private"
                else "Only admins of this chat or Steward's managers can use this command."
            )
        else:
            return None
        return i18n.gettext(msgid, locale=locale)

    refusals = {
        expected(spec, chat_type, lang)
        for spec in COMMANDS
        for chat_type in ("private", "supergroup")
        for lang in languages
    } - {None}
    sent = []  # (command, chat id, chat type, locale)
    for n, spec in enumerate(COMMANDS):
        lang = languages[n % 3]
        chat = fake.add_chat(GROUP_ID - 1 - n, title=f"Group {n}")  # 20 messages/min a group
        member = fake.user(70_000 + n, f"Mem{n}", language_code=lang)
        fake.add_member(chat["id"], member)
        await fake.send_message(chat, member, f"/{spec.name}")
        sent.append((spec, chat["id"], "supergroup", lang))
        person = fake.user(80_000 + n, f"Pri{n}", language_code=lang)
        await fake.send_message(fake.private_chat(person), person, f"/{spec.name}")
        sent.append((spec, person["id"], "private", lang))
    await steward.idle(timeout=60)
    await fake.wait_for("sendMessage", since=0, count=len(sent), timeout=30)
    problems = []
    for spec, chat_id, chat_type, lang in sent:
        answers = [
            c
            for c in fake.calls
            if c.method in {"sendMessage", "sendPhoto", "sendDocument"}
            and c.get("chat_id") == chat_id
        ]
        texts = [c.get("text") or c.get("caption") or "" for c in answers]
        want = expected(spec, chat_type, lang)
        if len(answers) != 1:
            problems.append(f"/{spec.name} in {chat_type}: {len(answers)} answers {texts}")
        elif want is not None and texts[0] != want:
            problems.append(f"/{spec.name} in {chat_type} ({lang}): {texts[0]!r}, not {want!r}")
        elif want is None and (texts[0] in refusals or "Sorry" in texts[0]):
            problems.append(f"/{spec.name} in {chat_type} ({lang}): refused: {texts[0]!r}")
    assert not problems, "\n".join(problems)
    assert not [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


async def test_commands_typed_in_capitals_and_unknown_ones(steward: RunningBot, fake: FakeTelegram):
    """ "/Help" is /help (clients send what was typed); a command nobody knows gets a pointer
    to /help in private instead of silence, and nothing in a group, where it may be another
    bot's."""
    user = fake.user(501, "Ann", language_code="nl")
    chat = fake.private_chat(user)
    await fake.send_message(chat, user, "/Help")
    help_text = await fake.wait_for("sendMessage")
    assert help_text["text"].startswith("Commando's die je hier kunt gebruiken:")
    await fake.send_message(chat, user, "/Start")
    assert (await fake.wait_for("sendMessage"))["text"].startswith("Hallo, Ann!")
    await fake.send_message(chat, user, "/helpme please")
    unknown = await fake.wait_for("sendMessage")
    assert (
        unknown["text"]
        == "Dit commando ken ik niet. /help toont de commando's die je kunt gebruiken."
    )
    group = fake.add_chat(GROUP_ID)
    member = fake.user(502, "Bo")
    fake.add_member(GROUP_ID, member)
    await fake.send_message(group, member, "/WARNS")
    assert "has no warns" in (await fake.wait_for("sendMessage")).plain
    mark = fake.mark()
    await fake.send_message(group, member, "/helpme")
    await steward.idle()
    await fake.assert_no_call("sendMessage", since=mark)

    # a button no feature knows (an older version's, data cut short) is answered, not left
    # spinning
    def bots_message(chat_id: int) -> dict:
        return next(
            m
            for (where, _), m in fake.messages.items()
            if where == chat_id and m.get("from", {}).get("is_bot")
        )

    for message, who, words in [
        (bots_message(501), user, "Deze knop werkt niet meer."),
        (bots_message(GROUP_ID), member, "This button no longer works."),
    ]:
        pressed = await fake.press_button(message, who, "gone:1")
        answer = await fake.wait_for(
            "answerCallbackQuery", lambda c, i=pressed: c["callback_query_id"] == i
        )
        assert answer["text"] == words
    # a button whose handler fails: logged, and an apology in the presser's language, as an
    # alert on the button (the only place a button's answer is seen)
    fake.fail("answerCallbackQuery", 400, description="Bad Request: BUTTON_DATA_INVALID")
    pressed = await fake.press_button(bots_message(501), user, "gone:2")
    apology = await fake.wait_for(
        "answerCallbackQuery", lambda c: c["callback_query_id"] == pressed, count=2
    )
    assert apology["text"].startswith("Sorry, er ging aan mijn kant iets mis")
    assert apology["show_alert"] in (True, "true")


async def test_settings_refused_at_start_are_one_line_naming_the_key(fake, bot_env, caplog):
    """setWebhook refused (a host Telegram cannot resolve, say), or an HTTP_LISTEN port in use,
    used to end the start in a traceback; now each is one error naming the key and why. A
    LOG_CHAT_ID the bot cannot reach is a warning at start, not a surprise days later."""
    from bot.app import StartRefused
    from tests.harness import settings_for
    from tests.test_entry_point import free_port

    bot_env.update(
        WEBHOOK_URL="https://bot.example.invalid/hook",
        WEBHOOK_SECRET="s3cret",
        HTTP_LISTEN=f"127.0.0.1:{free_port()}",
        LOG_CHAT_ID="-1009999999999",  # a chat the bot is not in: said at start, not fatal
    )
    reason = "Bad Request: bad webhook: Failed to resolve host: Name or service not known"
    fake.fail("setWebhook", 400, description=reason)
    running = RunningBot(fake=fake, settings=settings_for(bot_env), env=bot_env)
    with pytest.raises(StartRefused) as refused:
        await running.start()  # the web server may be up before Telegram answers
        await asyncio.wait_for(running.task, 30)
    assert str(refused.value).startswith(
        f"WEBHOOK_URL https://bot.example.invalid/hook was refused by Telegram ({reason})"
    )
    assert "\n" not in str(refused.value)
    assert any(
        r.getMessage().startswith("LOG_CHAT_ID -1009999999999: I cannot reach that chat")
        for r in caplog.records
    )

    # HTTP_LISTEN on a port another program holds: one line naming the key, not a traceback
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        bot_env["HTTP_LISTEN"] = f"127.0.0.1:{taken}"
        running = RunningBot(fake=fake, settings=settings_for(bot_env), env=bot_env)
        with pytest.raises(StartRefused) as refused:
            await running.start()
            await asyncio.wait_for(running.task, 30)
    assert str(refused.value).startswith(f"HTTP_LISTEN 127.0.0.1:{taken}: cannot listen there")


async def test_an_answer_to_a_command_deleted_meanwhile_still_arrives(
    steward: RunningBot, fake: FakeTelegram
):
    """Groups often run a bot that deletes commands at once: replying to a message that is gone
    is refused by Telegram unless the reply may go without its quote. The /help answer used to
    fail, and the member got "Sorry, something went wrong"; now it comes, unquoted."""
    chat = fake.add_chat(GROUP_ID)
    member = fake.user(22, "Member", language_code="ru")
    fake.add_member(GROUP_ID, member)
    message = fake.new_message(chat, member, "/help")
    del fake.messages[(GROUP_ID, message["message_id"])]  # deleted before the bot answers
    await fake.push_update({"message": message})
    await fake.wait_for("sendMessage")
    await steward.idle()
    sent = fake.calls_of("sendMessage")
    assert not [c for c in sent if "что-то пошло не так" in c.plain]
    assert sent[-1]["text"].startswith("Команды, доступные вам здесь:")
    assert len(sent) == 1  # taken at once, not after a refusal

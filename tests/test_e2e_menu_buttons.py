"""The calendar menu button reaches every manager, not only those Telegram could reach at start-up.

Telegram refuses `setChatMenuButton` for a user who never started the bot (the fake does too), so
a new manager gets the button with their first private message; it is set once, not per message,
set again when MINIAPP_URL or their language changes, and taken back (Telegram's default button)
when they stop being a manager or the Mini App goes away.
"""

from __future__ import annotations

from tests.harness import MANAGER_ID, RunningBot, make_env, settings_for
from tests.test_miniapp_api import free_port

URL = "https://bot.example.com/app/"


def env_for(fake, tmp_path, **overrides):
    base = {"MINIAPP_URL": URL, "HTTP_LISTEN": f"127.0.0.1:{free_port()}"}
    base.update(overrides)
    return make_env(fake, tmp_path, **{k: v for k, v in base.items() if v is not None})


def menu_calls(fake, user_id: int, since: int = 0) -> list:
    return [c for c in fake.calls_of("setChatMenuButton")[since:] if int(c["chat_id"]) == user_id]


async def test_a_manager_who_never_started_the_bot_gets_the_button_on_their_first_message(
    fake, tmp_path
):
    manager = fake.user(MANAGER_ID, "Manny", language_code="ru")
    chat = fake.private_chat(manager)  # never pressed Start
    env = env_for(fake, tmp_path)
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    await running.start()
    try:
        # start-up tried, Telegram refused: no button yet
        assert len(menu_calls(fake, MANAGER_ID)) == 1
        assert MANAGER_ID not in fake.menu_buttons
        await fake.send_message(chat, manager, "/start")
        await running.idle()
        button = fake.menu_buttons[MANAGER_ID]
        assert button["type"] == "web_app" and button["web_app"]["url"] == URL
        assert button["text"] == "📅 Календарь"  # in the manager's language
        # further messages cost no call
        calls = len(fake.calls_of("setChatMenuButton"))
        await fake.send_message(chat, manager, "/help")
        await fake.send_message(chat, manager, "hello")
        await running.idle()
        assert len(fake.calls_of("setChatMenuButton")) == calls
        # the manager switches Telegram to Dutch: the label follows on their next message
        manager["language_code"] = "nl"
        await fake.send_message(chat, manager, "/help")
        await running.idle()
        assert len(fake.calls_of("setChatMenuButton")) == calls + 1
        assert fake.menu_buttons[MANAGER_ID]["text"] == "📅 Kalender"

        # a restart with the same settings sets nothing again
        mark = len(fake.calls_of("setChatMenuButton"))
        await running.restart()
        assert menu_calls(fake, MANAGER_ID, mark) == []

        # a new MINIAPP_URL: every manager's button follows at start-up
        running.settings = settings_for(
            env_for(fake, tmp_path, MINIAPP_URL="https://cal.example.org/steward/")
        )
        await running.restart()
        assert fake.menu_buttons[MANAGER_ID]["web_app"]["url"] == (
            "https://cal.example.org/steward/"
        )

        # no Mini App any more: Telegram's default button comes back, once
        running.settings = settings_for(env_for(fake, tmp_path, MINIAPP_URL=None))
        await running.restart()
        assert fake.menu_buttons[MANAGER_ID] == {"type": "default"}
        mark = len(fake.calls_of("setChatMenuButton"))
        await running.restart()
        assert menu_calls(fake, MANAGER_ID, mark) == []
    finally:
        await running.stop()


async def test_an_unreachable_manager_is_retried_and_a_former_manager_loses_the_button(
    fake, tmp_path
):
    other = 9002
    fake.start_bot(fake.user(other, "Olga"))
    newcomer = fake.user(MANAGER_ID, "Manny")
    env = env_for(fake, tmp_path, MANAGER_IDS=f"{MANAGER_ID},{other}")
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    app = await running.start()
    try:
        assert fake.menu_buttons[other]["type"] == "web_app"
        assert MANAGER_ID not in fake.menu_buttons
        # the newcomer presses Start somewhere the bot does not see (e.g. another deployment)
        fake.start_bot(newcomer)
        job = app.scheduler.get_job("menu-buttons:retry")
        assert job is not None and job.trigger.interval.total_seconds() == 3600
        await job.func()  # the hourly retry
        assert fake.menu_buttons[MANAGER_ID]["type"] == "web_app"
        mark = len(fake.calls_of("setChatMenuButton"))
        await app.menu_buttons.sync()  # everyone current: nothing to do
        assert len(fake.calls_of("setChatMenuButton")) == mark

        # Olga is no longer a manager: her button goes back to Telegram's default
        running.settings = settings_for(env_for(fake, tmp_path, MANAGER_IDS=str(MANAGER_ID)))
        await running.restart()
        assert fake.menu_buttons[other] == {"type": "default"}
        assert fake.menu_buttons[MANAGER_ID]["type"] == "web_app"
        # a message from her later changes nothing
        mark = len(fake.calls_of("setChatMenuButton"))
        olga = fake.user(other, "Olga")
        await fake.send_message(fake.private_chat(olga), olga, "hi")
        await running.idle()
        assert len(fake.calls_of("setChatMenuButton")) == mark
    finally:
        await running.stop()

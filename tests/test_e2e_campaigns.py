"""End-to-end campaigns: named links, joins counted per link, churn, cost, chart and CSV."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest

from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID
from tests.test_e2e_stats import png_ok

GROUP = -1001777000001
CHANNEL = -1001777000050
HOUR, DAY = 3600, 86400
LINK = re.compile(r"https://t\.me/\+[\w-]+")


def setup_group(fake: FakeTelegram) -> tuple[dict, dict, dict]:
    chat = fake.add_chat(GROUP, title="Makers", username="makers_chat")
    admin = fake.user(1, "Ada")
    fake.add_member(GROUP, admin, "administrator")
    member = fake.user(2, "Bob")
    fake.add_member(GROUP, member)
    return chat, admin, member


async def new_campaign(fake: FakeTelegram, chat: dict, who: dict, args: str) -> tuple[int, str]:
    await fake.send_message(chat, who, f"/campaign_new {args}")
    answer = await fake.wait_for("sendMessage", lambda c: "Campaign #" in c.plain)
    campaign_id = int(re.search(r"Campaign #(\d+)", answer.plain)[1])
    return campaign_id, LINK.search(answer.plain)[0]


def report_line(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(start))


async def test_campaign_new_creates_a_named_link_and_answers_with_it(steward, fake):
    chat, admin, _member = setup_group(fake)
    campaign_id, link = await new_campaign(
        fake, chat, admin, "Spring ads cost=30 EUR expires=7d limit=500"
    )
    created = fake.calls_of("createChatInviteLink")[-1]
    assert created["chat_id"] == GROUP
    assert created["name"] == "Spring ads"
    assert created["member_limit"] == 500
    assert abs(created["expire_date"] - (time.time() + 7 * DAY)) < 60
    assert fake.invite_links[link]["name"] == "Spring ads"
    assert campaign_id == 1

    await fake.send_message(chat, admin, "/campaigns")
    listing = await fake.wait_for("sendMessage", lambda c: "📣" in c.plain)
    assert "#1 Spring ads" in listing.plain and link in listing.plain
    assert "cost 30.00 EUR" in listing.plain and "active" in listing.plain


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_joins_are_counted_per_campaign_with_churn_cost_chart_and_csv(steward, fake):
    chat, admin, _member = setup_group(fake)
    await steward.app.mod_repo.update_settings(GROUP, flood_mode="off")
    first, link_a = await new_campaign(fake, chat, admin, "Ads A cost=30 EUR")
    second, link_b = await new_campaign(fake, chat, admin, "Ads B")
    now = int(time.time())
    users = [fake.user(100 + n, f"New{n}") for n in range(6)]
    for user in users[:3]:  # three through A three days ago; one leaves two hours later
        await fake.join_chat(GROUP, user, link_a, date=now - 3 * DAY)
    await fake.leave_chat(GROUP, users[0], date=now - 3 * DAY + 2 * HOUR)
    for user in users[3:5]:  # two through B; one leaves after 30 hours
        await fake.join_chat(GROUP, user, link_b, date=now - 2 * DAY)
    await fake.leave_chat(GROUP, users[3], date=now - 2 * DAY + 30 * HOUR)
    await fake.join_chat(GROUP, users[5], date=now - DAY)  # no link: organic
    await steward.idle()

    await fake.send_message(chat, admin, "/campaigns 7d")
    summary = await fake.wait_for("sendMessage", lambda c: "📣 Campaigns in" in c.plain)
    text = summary.plain
    assert report_line(text, f"#{first} Ads A").endswith(
        "joins 3; left within 1 day 1, within 7 days 1; still members 2"
    )
    # 30 EUR over 3 joins, and over the 2 members still here
    assert "cost 30.00 EUR: 10.00 EUR per join, 15.00 EUR per member still here" in text
    assert "(since the start: joins 3, still members 2)" in text  # no "1 joins"
    assert report_line(text, f"#{second} Ads B").endswith(
        "joins 2; left within 1 day 0, within 7 days 1; still members 1"
    )
    assert report_line(text, "Organic / other").endswith(
        "joins 1; left within 1 day 0, within 7 days 0; still members 1"
    )
    photo = await fake.wait_for("sendPhoto")
    assert png_ok(next(iter(photo.files.values())))

    await fake.send_message(chat, admin, "/export_stats 7d")
    document = await fake.wait_for("sendDocument")
    rows = list(csv.reader(io.StringIO(next(iter(document.files.values())).decode())))
    start = rows.index(next(r for r in rows if r[:2] == ["chat_id", "campaign_id"]))
    body = {r[1]: r for r in rows[start + 1 :]}
    expected = ["Ads A", "3", "1", "1", "2", "30.00", "EUR", "3", "2", "10.00", "15.00"]
    assert body[str(first)][2:] == expected
    assert body[str(second)][3:7] == ["2", "0", "1", "1"]
    assert body["organic"][3:7] == ["1", "0", "0", "1"]
    # the statistics rows above still count every join
    daily = rows[1:8]
    assert sum(int(r[3]) for r in daily) == 6


async def test_a_member_is_refused_and_bad_arguments_get_usage(steward, fake):
    chat, admin, member = setup_group(fake)
    await fake.send_message(chat, member, "/campaign_new Sneaky")
    refused = await fake.wait_for("sendMessage")
    assert refused.plain == "Only admins of this chat or Steward's managers can use this command."
    await fake.send_message(chat, member, "/campaigns 7d")
    refused = await fake.wait_for("sendMessage")
    assert refused.plain == "Only admins of this chat or Steward's managers can use this command."
    assert not fake.calls_of("createChatInviteLink")

    await fake.send_message(chat, admin, "/campaign_new Big cost=abc EUR")
    usage = await fake.wait_for("sendMessage")
    assert "The cost must be a positive amount" in usage.plain
    assert "Usage: /campaign_new <name>" in usage.plain
    await fake.send_message(chat, admin, "/campaign_new Big limit=5 requests")
    usage = await fake.wait_for("sendMessage")
    assert "member limit" in usage.plain
    await fake.send_message(chat, admin, "/campaigns 12d")
    usage = await fake.wait_for("sendMessage")
    assert usage.plain.startswith("Usage: /campaigns")
    await fake.send_message(chat, admin, "/campaign_end abc")
    usage = await fake.wait_for("sendMessage")
    assert usage.plain.startswith("Usage: /campaign_end <id>")
    assert not fake.calls_of("createChatInviteLink")


async def test_manager_in_private_names_the_chat_and_ends_a_campaign_after_confirming(
    steward, fake
):
    chat, admin, _member = setup_group(fake)
    await fake.bot_added(chat, admin)
    await steward.idle()
    manager = fake.user(MANAGER_ID, "Manny")
    private = fake.private_chat(manager)
    await fake.send_message(private, manager, "/campaign_new Newsletter")
    usage = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    assert "name the chat" in usage.plain and str(GROUP) in usage.plain

    campaign_id, link = await new_campaign(fake, private, manager, "Newsletter @makers_chat")
    assert fake.calls_of("createChatInviteLink")[-1]["chat_id"] == GROUP

    await fake.send_message(private, manager, f"/campaign_end {campaign_id}")
    confirm = await fake.wait_for("sendMessage", lambda c: "End campaign" in c.plain)
    assert not fake.calls_of("revokeChatInviteLink")
    buttons = [b for row in confirm["reply_markup"]["inline_keyboard"] for b in row]
    revoke = next(b for b in buttons if "Revoke" in b["text"])
    panel = fake.messages[(MANAGER_ID, max(m for c, m in fake.messages if c == MANAGER_ID))]
    # an admin of the group, not a manager, cannot press it in the manager's chat
    await fake.press_button(panel, admin, revoke["callback_data"])
    await fake.wait_for("answerCallbackQuery")
    assert not fake.calls_of("revokeChatInviteLink")
    await fake.press_button(panel, manager, revoke["callback_data"])
    await fake.wait_for("editMessageText", lambda c: "ended" in c.plain)
    assert fake.calls_of("revokeChatInviteLink")[-1]["invite_link"] == link
    assert fake.invite_links[link]["is_revoked"]

    await fake.send_message(private, manager, f"/campaign_end {campaign_id}")
    again = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    assert again.plain == f"Campaign #{campaign_id} has already ended."

    # an admin of another group cannot end this group's campaign from there
    other = fake.add_chat(-1001777000099, title="Elsewhere")
    fake.add_member(other["id"], admin, "administrator")
    _, other_link = await new_campaign(fake, chat, admin, "Second")
    await fake.send_message(other, admin, f"/campaign_end {campaign_id + 1}")
    refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == other["id"])
    assert refused.plain == f"There is no campaign #{campaign_id + 1} here."
    assert not fake.invite_links[other_link]["is_revoked"]


async def test_approved_join_request_counts_for_its_campaign(steward, fake):
    chat, admin, _member = setup_group(fake)
    campaign_id, link = await new_campaign(
        fake, chat, admin, "Vetted requests"
    )  # "requests" is the option
    assert fake.calls_of("createChatInviteLink")[-1]["creates_join_request"] is True
    newcomer = fake.user(300, "Carol")
    await fake.request_join(GROUP, newcomer, link)
    await steward.idle()
    # the admin approves in the Telegram app; the member update that follows has no link
    await fake.join_chat(GROUP, newcomer, approved_by=admin)
    await steward.idle()
    await fake.send_message(chat, admin, "/campaigns 7d")
    summary = await fake.wait_for("sendMessage", lambda c: "📣 Campaigns in" in c.plain)
    assert report_line(summary.plain, f"#{campaign_id} Vetted").endswith(
        "joins 1; left within 1 day 0, within 7 days 0; still members 1"
    )
    assert report_line(summary.plain, "Organic / other").startswith("Organic / other: joins 0;")


async def test_post_with_a_campaign_button_shows_its_joins_in_stats(steward, fake):
    chat, admin, _member = setup_group(fake)
    channel = fake.add_chat(CHANNEL, "channel", "Maker News", username="makernews")
    await fake.bot_added(channel, admin)
    await steward.idle()
    campaign_id, link = await new_campaign(fake, chat, admin, "From the channel")
    manager = fake.user(MANAGER_ID, "Manny")
    private = fake.private_chat(manager)
    source = fake.new_message(private, manager, "Join our makers chat!")
    app = steward.app
    post_id = await app.post_repo.add(
        channel_id=CHANNEL,
        source_chat_id=MANAGER_ID,
        source_message_ids=[source["message_id"]],
        due_at=int(time.time()),
        created_by=MANAGER_ID,
        now=int(time.time()),
        buttons=[[{"text": "Join", "url": link}]],
    )
    assert await app.publisher.publish(post_id)
    for n in range(2):
        await fake.join_chat(GROUP, fake.user(400 + n, f"Reader{n}"), link)
    await steward.idle()

    await fake.send_message(private, manager, "/stats 7d")
    chooser = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    button = next(
        b
        for row in chooser["reply_markup"]["inline_keyboard"]
        for b in row
        if "Maker News" in b["text"]
    )
    panel = fake.messages[(MANAGER_ID, max(m for c, m in fake.messages if c == MANAGER_ID))]
    await fake.press_button(panel, manager, button["callback_data"])
    summary = await fake.wait_for("sendMessage", lambda c: "📊" in c.plain)
    assert "Posts with a campaign link" in summary.plain
    assert f"post #{post_id}" in summary.plain
    assert f"campaign #{campaign_id} From the channel: joins 2" in summary.plain


async def test_without_the_invite_right_telegram_refuses_and_nothing_is_stored(steward, fake):
    chat, admin, _member = setup_group(fake)
    fake.chats[GROUP].members[fake.bot_id]["can_invite_users"] = False
    await fake.send_message(chat, admin, "/campaign_new Spring")
    refused = await fake.wait_for("sendMessage")
    assert refused.plain.startswith("Telegram refused to create the link")
    assert "right to invite users" in refused.plain
    await fake.send_message(chat, admin, "/campaigns")
    listing = await fake.wait_for("sendMessage")
    assert listing.plain == "No campaigns yet: create one with /campaign_new."

    fake.chats[GROUP].members[fake.bot_id]["can_invite_users"] = True
    campaign_id, link = await new_campaign(fake, chat, admin, "Spring")
    await fake.send_message(chat, admin, f"/campaign_end {campaign_id}")
    confirm = await fake.wait_for("sendMessage", lambda c: "End campaign" in c.plain)
    keep = next(
        b
        for row in confirm["reply_markup"]["inline_keyboard"]
        for b in row
        if b["text"] == "Keep it"
    )
    panel = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    await fake.press_button(panel, admin, keep["callback_data"])
    await fake.wait_for("editMessageText", lambda c: "goes on" in c.plain)
    assert not fake.calls_of("revokeChatInviteLink")
    assert not fake.invite_links[link]["is_revoked"]


async def test_dollar_signs_in_titles_and_names_do_not_break_the_charts(steward, fake):
    """matplotlib reads `$…$` as TeX: a chat titled `Deals $_$ club` or a campaign named
    `50$ ^ off$` made every chart of that chat fail after its summary text."""
    chat = fake.add_chat(GROUP, title="Deals $_$ club")
    admin = fake.user(1, "Ada")
    fake.add_member(GROUP, admin, "administrator")
    await fake.bot_added(chat, admin)
    _, link = await new_campaign(fake, chat, admin, "50$ ^ off$")
    await fake.join_chat(GROUP, fake.user(200, "Zed"), link)  # a join: a chart to draw
    await steward.idle()
    for command in ("/stats 7d", "/besttime", "/campaigns 7d"):
        mark = fake.mark()
        await fake.send_message(chat, admin, command)
        photo = await fake.wait_for("sendPhoto", since=mark)
        assert png_ok(next(iter(photo.files.values())))
    assert not [c for c in fake.calls_of("sendMessage") if "Sorry" in c.plain]


async def test_campaigns_without_joins_say_so_instead_of_an_empty_chart(steward, fake):
    """A report with no join at all came with a chart of zeros; now its text says there is
    nothing to draw yet, and no picture follows."""
    chat, admin, _member = setup_group(fake)
    await fake.send_message(chat, admin, "/campaigns 7d")  # no campaign at all
    summary = await fake.wait_for("sendMessage", lambda c: "📣 Campaigns in" in c.plain)
    assert summary.plain.endswith("No joins recorded in this period yet, so there is no chart.")
    await new_campaign(fake, chat, admin, "Quiet one")  # a campaign nobody joined through
    mark = fake.mark()
    await fake.send_message(chat, admin, "/campaigns 30d")
    summary = await fake.wait_for("sendMessage", lambda c: "📣 Campaigns in" in c.plain)
    assert "#1 Quiet one: joins 0;" in summary.plain
    assert summary.plain.endswith("No joins recorded in this period yet, so there is no chart.")
    await steward.idle()
    await fake.assert_no_call("sendPhoto", within=0.5, since=mark)


def chart_words(monkeypatch) -> list[list[str]]:
    """Every chart's titles, axis labels, weekday ticks and legend, as drawn."""
    from bot.stats import charts

    drawn: list[list[str]] = []
    render = charts._png

    def recording(fig):
        words = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else []
        for ax in fig.axes:
            words += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
            words += [t.get_text() for t in ax.get_yticklabels()]
            if ax.get_legend():
                words += [t.get_text() for t in ax.get_legend().get_texts()]
        drawn.append([w for w in words if w])
        return render(fig)

    monkeypatch.setattr(charts, "_png", recording)
    return drawn


async def test_charts_speak_the_readers_language(steward, fake, monkeypatch):
    """Titles and axis labels were English whatever language the report's text was in."""
    drawn = chart_words(monkeypatch)
    chat, english_admin, _member = setup_group(fake)
    admin = fake.user(3, "Ivan", language_code="ru")
    fake.add_member(GROUP, admin, "administrator")
    await fake.bot_added(chat, english_admin)
    _, link = await new_campaign(fake, chat, english_admin, "Spring")
    await fake.join_chat(GROUP, fake.user(200, "Zed"), link)
    await steward.idle()
    for command in ("/stats 7d", "/besttime", "/campaigns 7d"):
        mark = fake.mark()
        await fake.send_message(chat, admin, command)
        await fake.wait_for("sendPhoto", since=mark)
    stats, best, joins = drawn
    assert "Makers: последние 7 дней" in stats and "сообщения" in stats
    assert "Makers: последние 30 дней" in best and "Пн" in best and "час" in best
    assert "Makers: вступления по дням и кампаниям, последние 7 дней" in joins
    assert "вступления" in joins and "органические / прочие" in joins
    assert not [w for words in drawn for w in words if w in {"messages", "hour", "joins", "Mon"}]


async def test_a_campaign_named_with_emoji_works_everywhere(steward, fake, recwarn):
    """Emoji in a campaign's name (and the chat's title) have no glyph in the charts' font:
    each chart logged "Glyph … missing from font(s)" and drew empty boxes. The charts now
    leave out what the font cannot draw; the link, the list, the report and the CSV keep the
    name whole."""
    chat = fake.add_chat(GROUP, title="Makers 🛠")
    admin = fake.user(1, "Ada")
    fake.add_member(GROUP, admin, "administrator")
    await fake.bot_added(chat, admin)
    name = "🚀 Launch 👨‍👩‍👧 week"
    campaign_id, link = await new_campaign(fake, chat, admin, name)
    assert fake.invite_links[link]["name"] == name
    await fake.join_chat(GROUP, fake.user(200, "Zed"), link)
    await steward.idle()
    mark = fake.mark()
    await fake.send_message(chat, admin, "/campaigns")
    listing = await fake.wait_for("sendMessage", lambda c: "📣" in c.plain, since=mark)
    assert f"#{campaign_id} {name} · Makers 🛠" in listing.plain
    for command in ("/stats 7d", "/besttime", "/campaigns 7d"):
        mark = fake.mark()
        await fake.send_message(chat, admin, command)
        photo = await fake.wait_for("sendPhoto", since=mark)
        assert png_ok(next(iter(photo.files.values())))
    summary = next(c for c in fake.calls_of("sendMessage") if "📣 Campaigns in" in c.plain)
    assert report_line(summary.plain, f"#{campaign_id} {name}").endswith("still members 1")
    assert not [w for w in recwarn if "missing from font" in str(w.message)]
    mark = fake.mark()
    await fake.send_message(chat, admin, "/export_stats 7d")
    document = await fake.wait_for("sendDocument", since=mark)
    assert name in next(iter(document.files.values())).decode()


async def test_a_list_of_emoji_named_campaigns_fits_telegrams_count(steward, fake):
    """/campaigns budgeted its message in code points; Telegram counts UTF-16 units (an emoji
    is two), so a list of emoji names in an emoji-titled chat ran past 4,096 and was refused."""
    chat = fake.add_chat(GROUP, title="🛠" * 128)
    admin = fake.user(1, "Ada")
    fake.add_member(GROUP, admin, "administrator")
    await steward.app.mod_repo.update_settings(GROUP, flood_mode="off")
    for n in range(18):
        await new_campaign(fake, chat, admin, f"{n} " + "🚀" * 14)
    mark = fake.mark()
    await fake.send_message(chat, admin, "/campaigns")
    listing = await fake.wait_for("sendMessage", lambda c: "📣" in c.plain, since=mark)
    assert len(listing.plain.encode("utf-16-le")) // 2 <= 4096
    assert "#18 17 " + "🚀" * 14 in listing.plain  # newest first
    assert "older." in listing.plain


async def test_a_chat_titled_only_with_emoji_is_named_in_the_charts(steward, fake, monkeypatch):
    """The charts leave out what their font cannot draw: a title of emoji only left every
    chart's title as ": last 7 days". The chat is named by its id, in the reader's language."""
    drawn = chart_words(monkeypatch)
    chat = fake.add_chat(GROUP, title="🛠🚀")
    english_admin, admin = fake.user(1, "Ada"), fake.user(3, "Ivan", language_code="ru")
    for user in (english_admin, admin):
        fake.add_member(GROUP, user, "administrator")
    await fake.bot_added(chat, english_admin)
    _, link = await new_campaign(fake, chat, english_admin, "Spring")
    await fake.join_chat(GROUP, fake.user(200, "Zed"), link)
    await steward.idle()
    for command in ("/stats 7d", "/besttime", "/campaigns 7d"):
        mark = fake.mark()
        await fake.send_message(chat, admin, command)
        await fake.wait_for("sendPhoto", since=mark)
    stats, best, joins = drawn
    assert f"чат {GROUP}: последние 7 дней" in stats
    assert f"чат {GROUP}: последние 30 дней" in best
    assert f"чат {GROUP}: вступления по дням и кампаниям, последние 7 дней" in joins
    assert not [w for words in drawn for w in words if w.startswith(":")]


async def test_an_option_given_twice_is_refused_naming_both(steward, fake):
    """`cost=50 EUR … cost=80 EUR`: the second silently replaced the first, and the campaign's
    cost per join was computed from a budget the manager may not have meant. The link is
    not created: the answer names both values, so the manager says which one."""
    chat, admin, _member = setup_group(fake)
    await fake.send_message(chat, admin, "/campaign_new Spring cost=50 EUR Ads cost=80€")
    refused = await fake.wait_for("sendMessage")
    assert refused.plain.startswith("cost= is given twice (50 EUR, then 80 €): give it once.")
    for twice, values in (
        ("expires=7d expires=30d", "7d, then 30d"),
        ("limit=10 limit=20", "10, then 20"),
    ):
        mark = fake.mark()
        await fake.send_message(chat, admin, f"/campaign_new Spring {twice}")
        refused = await fake.wait_for("sendMessage", since=mark)
        option = twice.split("=")[0]
        assert refused.plain.startswith(f"{option}= is given twice ({values}): give it once.")
    assert not fake.calls_of("createChatInviteLink")
    mark = fake.mark()
    fake_ru = fake.user(1, "Ada", language_code="ru")
    await fake.send_message(chat, fake_ru, "/campaign_new Spring cost=50 EUR cost=80 EUR")
    refused = await fake.wait_for("sendMessage", since=mark)
    assert refused.plain.startswith(
        "cost= указано дважды (50 EUR, затем 80 EUR): укажите один раз."
    )

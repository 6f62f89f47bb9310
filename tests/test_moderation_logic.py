"""Moderation domain logic without Telegram: durations, arguments, spam, flood, blocklist,
language."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.moderation.args import REASON_LIMIT, ArgumentError, parse_action_args, parse_warn_limit
from bot.moderation.blocklist import BadPattern, CompiledBlocklist, parse_filter
from bot.moderation.durations import format_duration, parse_duration, telegram_until
from bot.moderation.flood import FloodTracker
from bot.moderation.language import foreign_language, script_of
from bot.moderation.spam import (
    MessageFeatures,
    NaiveBayes,
    SpamScorer,
    build_default_bayes,
    features_from_text,
    fold,
    mixed_script_words,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("2h", 7200),
        ("3d", 259200),
        ("1w", 604800),
        ("1h30m", 5400),
        ("1D2H", 93600),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "2", "h", "10min", "2x", "0s", "-5m", "1h 30m"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_telegram_until_keeps_short_mutes_timed_and_long_ones_permanent():
    assert telegram_until(1000, None) == 0
    assert telegram_until(1000, timedelta(seconds=30)) == 1035  # Telegram: <30 s = forever
    assert telegram_until(1000, timedelta(hours=2)) == 8200
    assert telegram_until(1000, timedelta(days=400)) == 0
    assert format_duration(timedelta(seconds=5400)) == "1h30m"
    assert format_duration(timedelta(days=8)) == "1w1d"


def test_action_args_with_reply_and_without():
    args = parse_action_args("2h flooding the chat", has_reply=True, with_duration=True)
    assert (args.target, args.duration, args.reason) == (
        None,
        timedelta(hours=2),
        "flooding the chat",
    )
    args = parse_action_args("@bobby 1d", has_reply=False, with_duration=True)
    assert (args.target, args.duration, args.reason) == ("@bobby", timedelta(days=1), None)
    args = parse_action_args("123456789 spam", has_reply=False, with_duration=True)
    assert (args.target, args.duration, args.reason) == ("123456789", None, "spam")
    args = parse_action_args("2h", has_reply=True, with_duration=False)
    assert args.duration is None and args.reason == "2h"  # /warn takes no duration


def test_action_args_errors():
    with pytest.raises(ArgumentError) as info:
        parse_action_args("", has_reply=False, with_duration=True)
    assert info.value.kind == "no_target"
    with pytest.raises(ArgumentError) as info:
        parse_action_args("10min spam", has_reply=True, with_duration=True)
    assert (info.value.kind, info.value.token) == ("bad_duration", "10min")
    with pytest.raises(ArgumentError) as info:  # "/mute 30" must not mute forever for "30"
        parse_action_args("30", has_reply=True, with_duration=True)
    assert (info.value.kind, info.value.token) == ("bad_duration", "30")


@pytest.mark.parametrize("token", ["0m", "0s", "0h0m", "000d"])
def test_a_zero_duration_is_a_bad_duration_not_a_crash(token):
    """`/mute 0m` looks like a duration but is none: one clear line, not an exception."""
    with pytest.raises(ArgumentError) as info:
        parse_action_args(f"{token} spam", has_reply=True, with_duration=True)
    assert (info.value.kind, info.value.token) == ("bad_duration", token)
    with pytest.raises(ArgumentError) as info:
        parse_warn_limit(f"3 mute {token}")
    assert (info.value.kind, info.value.token) == ("bad_duration", token)


def test_a_restriction_longer_than_telegram_keeps_is_permanent():
    """Telegram keeps a mute or ban of more than 366 days for good: the parsed length says
    so (None), rather than a "57w1d" the member will never see end."""
    args = parse_action_args("@bobby 400d", has_reply=False, with_duration=True)
    assert (args.target, args.duration) == ("@bobby", None)
    args = parse_action_args("366d too much", has_reply=True, with_duration=True)
    assert (args.duration, args.reason) == (timedelta(days=366), "too much")
    assert parse_warn_limit("3 ban 999999w") == (3, "ban", None)
    assert parse_warn_limit("3 mute 53w") == (3, "mute", None)


def test_an_explicit_username_names_the_target_even_in_a_reply():
    """`/mute @carol 2h` in a reply to Bob's message is about Carol, for two hours (as in
    Rose/Marie): not about Bob, for good, with "@carol 2h" as the reason."""
    args = parse_action_args("@carol 2h rude", has_reply=True, with_duration=True)
    assert (args.target, args.duration, args.reason) == ("@carol", timedelta(hours=2), "rude")
    args = parse_action_args("@carol", has_reply=True, with_duration=False)
    assert (args.target, args.reason) == ("@carol", None)
    # a number after a reply stays what it was: a duration's error or the reason
    args = parse_action_args("3 times already", has_reply=True, with_duration=False)
    assert (args.target, args.reason) == (None, "3 times already")


@pytest.mark.parametrize("token", ["2h30", "1.5h", "1,5h", "2ч", "1d12", "90min", "12h-ish"])
def test_a_mistyped_duration_is_refused_not_taken_for_a_permanent_reason(token):
    """`/mute 2h30 flood` muted for good with the reason "2h30 flood": a length the moderator
    got wrong must stop the command, never turn a two-hour mute into a permanent one."""
    with pytest.raises(ArgumentError) as info:
        parse_action_args(f"{token} flood", has_reply=True, with_duration=True)
    assert (info.value.kind, info.value.token) == ("bad_duration", token)
    # a reason that only starts with a number is still a reason
    args = parse_action_args("18+ content", has_reply=True, with_duration=True)
    assert (args.duration, args.reason) == (None, "18+ content")


@pytest.mark.parametrize(
    "word", ["forever", "Forever", "permanent", "perm", "навсегда", "voorgoed"]
)
def test_forever_is_a_permanent_length_not_a_reason(word):
    args = parse_action_args(f"{word} spam", has_reply=True, with_duration=True)
    assert (args.duration, args.reason) == (None, "spam")
    args = parse_action_args(f"@bobby {word}", has_reply=False, with_duration=True)
    assert (args.target, args.duration, args.reason) == ("@bobby", None, None)
    assert parse_warn_limit(f"3 ban {word}") == (3, "ban", None)
    assert parse_warn_limit(f"3 mute {word}") == (3, "mute", None)


def test_a_reason_is_cut_to_what_a_confirmation_and_the_log_can_show():
    """A reason of 4,000 characters made the confirmation longer than a Telegram message (the
    moderator got an apology) and the log entry was refused."""
    args = parse_action_args("2h " + "x" * 4000, has_reply=True, with_duration=True)
    assert args.reason is not None and len(args.reason) == REASON_LIMIT
    assert args.reason.endswith("…")
    emoji = parse_action_args("2h " + "😡" * 4000, has_reply=True, with_duration=True).reason
    assert emoji is not None and len(emoji.encode("utf-16-le")) // 2 <= REASON_LIMIT


def test_warn_limit_parsing():
    assert parse_warn_limit("3") == (3, "mute", timedelta(days=1))
    assert parse_warn_limit("5 ban") == (5, "ban", None)
    assert parse_warn_limit("2 ban 3d") == (2, "ban", timedelta(days=3))
    assert parse_warn_limit("4 kick") == (4, "kick", None)
    for bad in ("", "zero", "0", "3 explode", "3 mute soon"):
        with pytest.raises(ArgumentError):
            parse_warn_limit(bad)


def test_homoglyphs_are_found_and_folded():
    assert mixed_script_words("Зaрaбoтoк дома") == ["Зaрaбoтoк"]
    assert mixed_script_words("ordinary words and обычные слова") == []
    assert fold("Зaрaбoтoк") == "заработок"
    assert fold("рrice") == "price"  # Cyrillic р in a Latin word
    assert mixed_script_words("человеκα") == ["человеκα"]  # Greek kappa and alpha
    # words in one script pass through untouched (the fast path), Greek look-alikes still fold
    assert fold("Обычные слова, plain words, ελληνικά") == "обычные слова, plain words, ελληνικά"
    assert fold("κупи") == "купи" and fold("αpple") == "apple"


def test_bayes_learns_and_unknown_text_is_neutral():
    bayes = NaiveBayes()
    assert bayes.probability("anything") == 0.5
    bayes.learn("cheap pills buy now", True)
    bayes.learn("see you at the meetup", False)
    assert bayes.probability("buy cheap pills") > 0.8
    assert bayes.probability("meetup tomorrow?") < 0.5 < bayes.probability("cheap")
    assert bayes.log_odds("zzz qqq") == pytest.approx(0.0)


def test_bayes_without_a_part_equals_bayes_never_taught_that_part():
    texts = [
        ("cheap pills buy now", True),
        ("see you at the meetup", False),
        ("free spins, first deposit bonus", True),
        ("who has the link to the meetup photos?", False),
        ("buy now, cheap", True),
    ]
    everything, part, rest = NaiveBayes(), NaiveBayes(), NaiveBayes()
    for n, (text, is_spam) in enumerate(texts):
        everything.learn(text, is_spam)
        (part if n % 2 else rest).learn(text, is_spam)
    without = everything.without(part)
    assert (without.spam, without.ham) == (rest.spam, rest.ham)
    assert (without.spam_docs, without.ham_docs) == (rest.spam_docs, rest.ham_docs)
    for text in ("cheap meetup", "free pills link", "nothing known"):
        assert without.log_odds(text) == pytest.approx(rest.log_odds(text))


def test_scorer_signals_add_up_and_one_weak_signal_is_not_spam():
    scorer = SpamScorer(build_default_bayes())
    one_link = scorer.score(features_from_text("Docs: https://docs.python.org/3/"))
    assert one_link.signals["links"] > 0 and not one_link.is_spam
    spam = scorer.score(
        MessageFeatures(
            text="Заработок от 5000 в день, без опыта, пиши в лс",
            links=1,
            forwarded_from_channel=True,
        )
    )
    assert spam.is_spam
    assert spam.signals["stop_phrases"] > 0 and spam.signals["channel_forward"] > 0
    assert "stop_phrases" in spam.explain()


def test_scorer_learning_flips_a_verdict():
    scorer = SpamScorer(build_default_bayes())
    text = "Visit the shop of magic crystals for healing energy today"
    before = scorer.score(features_from_text(text)).score
    for _ in range(5):
        scorer.bayes.learn(text, True)
    assert scorer.score(features_from_text(text)).score > before


def test_flood_tracker_counts_within_window_only():
    flood = FloodTracker()
    assert not any(flood.hit(1, 2, t, 5, 10) for t in range(5))
    assert flood.hit(1, 2, 5.0, 5, 10)  # sixth within 10 s
    assert not flood.hit(1, 2, 5.5, 5, 10)  # window restarted after the mute
    slow = FloodTracker()
    assert not any(slow.hit(1, 2, t * 3.0, 5, 10) for t in range(20))
    slow.sweep(now=10_000)
    assert not slow._windows


def test_blocklist_words_regexes_and_safety():
    assert parse_filter("  CaSiNo ") == ("casino", False)
    assert parse_filter("/bit\\.ly/\\w+/") == ("bit\\.ly/\\w+", True)
    for bad in ("", "/(a+)+$/", "/[unclosed/", "x" * 300):
        with pytest.raises(BadPattern):
            parse_filter(bad)
    blocklist = CompiledBlocklist.build(
        [("casino", False), ("free money", False), ("bit\\.ly/\\w+", True)]
    )
    assert blocklist.match("The CASINO is open") == "casino"
    assert blocklist.match("сasino with a Cyrillic с") == "casino"
    assert blocklist.match("casinos") is None
    assert blocklist.match("get FREE  money") is None  # phrase words must be adjacent
    assert blocklist.match("get free money") == "free money"
    assert blocklist.match("see bit.ly/abc") == "/bit\\.ly/\\w+/"
    assert blocklist.match("") is None


def test_language_rule():
    assert script_of("Привет мир")[0] == "cyrillic"
    langs = ("en", "nl")
    assert foreign_language("Привет всем, как у вас сегодня дела, друзья?", langs) == "ru"
    assert foreign_language("Hello everyone, how are you all doing today?", langs) is None
    assert foreign_language("Hallo allemaal, hoe gaat het vandaag met jullie?", langs) is None
    assert foreign_language("Привет!", langs) is None  # too short to judge
    assert (
        foreign_language("Bonjour à tous, comment allez-vous aujourd'hui mes amis?", langs) == "fr"
    )
    assert foreign_language("Привет всем, как у вас сегодня дела, друзья?", ("ru",)) is None
    # deterministic: the same text gives the same answer
    text = "Das ist ein deutscher Satz mit genug Buchstaben für die Erkennung"
    assert len({foreign_language(text, langs) for _ in range(5)}) == 1

"""Every outcome enum a handler words has words of its own: adding a member without its text
fails here, not as a KeyError in a chat."""

from __future__ import annotations

from bot.engagement.giveaways import ArgsProblem
from bot.engagement.quiz_format import QuizFormatError, QuizProblem
from bot.i18n import create_i18n
from bot.moderation.problems import Problem
from bot.posting.replies import time_error_text
from bot.posting.times import TimeProblem
from handlers.giveaways import giveaway_error_text
from handlers.moderation.common import error_alert, error_text
from handlers.quizzes import quiz_error_text


def test_each_problem_has_its_own_text():
    i18n = create_i18n("en")
    with i18n.context(), i18n.use_locale("ru"):
        moderation = {error_text(p, "warn", "x") for p in Problem}
        giveaway = {giveaway_error_text(p) for p in ArgsProblem}
        quiz = {quiz_error_text(QuizFormatError(p, 3)) for p in QuizProblem}
        times = {time_error_text(p) for p in TimeProblem}
    assert len(moderation) == len(Problem)
    assert len(giveaway) == len(ArgsProblem)
    assert len(quiz) == len(QuizProblem)
    assert len(times) == len(TimeProblem)  # UNKNOWN gets the usage line


def test_a_buttons_alert_is_plain_text_within_telegrams_limit():
    """Alerts have no parse mode: the HTML-escaped reply text showed "Tom &amp; Jerry"."""
    i18n = create_i18n("en")
    with i18n.context(), i18n.use_locale("en"):
        assert error_alert(Problem.NOT_MUTED, token="Tom & Jerry <3") == (
            "Tom & Jerry <3 is not muted in this chat."
        )
        long = error_alert(Problem.TELEGRAM, token="🚫" * 300)
    assert long.endswith("…") and len(long.encode("utf-16-le")) // 2 <= 200

"""PNG charts for reports (matplotlib, Agg backend, no display needed).

Rendering takes tens of milliseconds, so callers run these functions in a worker thread
(`asyncio.to_thread`) to keep the event loop answering messages meanwhile.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.stats.report import WEEKDAYS, BestTime, ChatReport, engagement_rate

# A chart's words come in the reader's language: callers pass gettext and ngettext bound to
# it (English, the msgids themselves, when they pass nothing, as the benchmarks do).
Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]


def english(message: str) -> str:
    return message


def english_plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def N_(message: str) -> str:
    """Marks a string for the catalog; translated when drawn."""
    return message


WEEKDAY_ABBREVIATIONS = (
    N_("Mon"),
    N_("Tue"),
    N_("Wed"),
    N_("Thu"),
    N_("Fri"),
    N_("Sat"),
    N_("Sun"),
)
assert len(WEEKDAY_ABBREVIATIONS) == len(WEEKDAYS)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# pyplot keeps global state; one chart at a time per process
_lock = threading.Lock()


@functools.cache
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    # Chat titles and campaign names are people's text, not TeX: `$_$` in one made the chart fail
    # and `$5 and $10` lost its dollars to math mode.
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot

    return matplotlib.pyplot


class _LazyPyplot:
    """matplotlib.pyplot, imported by the first chart rather than at start: 30 MB of resident
    memory and half a second that a bot whose managers never ask for a chart does not pay."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_pyplot(), name)


plt = _LazyPyplot()


def warm_up() -> None:
    """Load matplotlib, fonts and renderers (about a second); the benchmarks call it so that a
    timed chart is not the first one."""
    with _lock:
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [0, 1])
        ax.set_title("warm-up")
        _png(fig)


@functools.cache
def _drawable_characters() -> frozenset[int]:
    """Code points the charts' font has glyphs for."""
    import matplotlib
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    _pyplot()  # the backend and rcParams first
    family = font_manager.FontProperties(family=matplotlib.rcParams["font.family"])
    return frozenset(FT2Font(font_manager.findfont(family)).get_charmap())


def drawable(text: str) -> str:
    """People's text (a chat title, a campaign name) without the characters the font has no
    glyph for: an emoji in a campaign's name was drawn as an empty box and logged a "Glyph
    missing from font" warning at every chart. The text messages keep the name whole."""
    known = _drawable_characters()
    kept = "".join(ch for ch in text if ord(ch) in known or ch.isspace())
    return " ".join(kept.split())


def chart_name(title: str, chat_id: int, gettext: Gettext = english) -> str:
    """A chat's title as a chart draws it; a title the font draws nothing of (only emoji, say)
    would leave ": last 7 days", so the chat is named by its id, in the reader's language."""
    return drawable(title) or gettext("chat {id}").format(id=chat_id)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def period_title(title: str, days: int, ngettext: Ngettext = english_plural) -> str:
    return ngettext("{title}: last {days} day", "{title}: last {days} days", days).format(
        title=title, days=days
    )


def activity_chart(
    report: ChatReport, gettext: Gettext = english, ngettext: Ngettext = english_plural
) -> bytes:
    with _lock:
        if report.kind == "channel":
            return _channel_chart(report, gettext)
        days = [d[5:] for d, *_ in report.series]
        fig, ax = plt.subplots(figsize=(8, 4))
        messages = gettext("messages")
        ax.bar(days, [m for _, m, _, _ in report.series], color="#4C78A8", label=messages)
        ax.set_ylabel(messages)
        ax2 = ax.twinx()
        ax2.plot(
            days,
            [j for *_, j, _ in report.series],
            color="#59A14F",
            marker="o",
            label=gettext("joined"),
        )
        ax2.plot(
            days,
            [left for *_, left in report.series],
            color="#E15759",
            marker="o",
            label=gettext("left"),
        )
        ax2.set_ylabel(gettext("members"))
        if report.complaint_share:
            ax3 = ax.twinx()
            ax3.spines["right"].set_position(("axes", 1.12))
            ax3.plot(
                days,
                [report.complaint_share.get(d, 0.0) for d, *_ in report.series],
                color="#B07AA1",
                linestyle="--",
                marker=".",
                label=gettext("complaints, %"),
            )
            ax3.set_ylabel(gettext("complaints, % of messages"))
            ax3.set_ylim(bottom=0)
        name = chart_name(report.title, report.chat_id, gettext)
        ax.set_title(drawable(period_title(name, report.days, ngettext)))
        step = max(1, len(days) // 10)
        ax.set_xticks(range(0, len(days), step), days[::step], rotation=45)
        fig.legend(loc="upper left")
        return _png(fig)


def _channel_chart(report: ChatReport, gettext: Gettext) -> bytes:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6))
    if report.members:
        top.plot(
            [d[5:] for d, _ in report.members],
            [m for _, m in report.members],
            color="#4C78A8",
            marker="o",
        )
    name = chart_name(report.title, report.chat_id, gettext)
    top.set_title(drawable(gettext("{title}: subscribers").format(title=name)))
    rates = [(p["message_id"], engagement_rate(p)) for p in report.posts]
    rates = [(str(mid), er) for mid, er in rates if er is not None]
    bottom.bar([m for m, _ in rates], [er for _, er in rates], color="#F28E2B")
    bottom.set_title(gettext("ER by subscribers per post, %"))
    bottom.set_xlabel(gettext("post number"))
    fig.tight_layout()
    return _png(fig)


def heatmap_chart(best: BestTime, title: str, gettext: Gettext = english) -> bytes:
    """`title` comes worded in the reader's language (see `period_title`)."""
    with _lock:
        fig, ax = plt.subplots(figsize=(10, 3.6))
        image = ax.imshow(best.grid, aspect="auto", cmap="YlOrRd")
        ax.set_yticks(range(7), [gettext(day) for day in WEEKDAY_ABBREVIATIONS])
        ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
        ax.set_xlabel(gettext("hour"))
        ax.set_title(drawable(title))
        if best.best is not None:
            day, hour = best.best
            ax.add_patch(
                plt.Rectangle(
                    (hour - 0.5, day - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2
                )
            )
        fig.colorbar(image, ax=ax)
        return _png(fig)

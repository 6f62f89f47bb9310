"""PNG charts for reports (matplotlib, Agg backend, no display needed).

Rendering takes tens of milliseconds, so callers run these functions in a worker thread
(`asyncio.to_thread`) to keep the event loop answering messages meanwhile.
"""

from __future__ import annotations

import functools
import io
import threading
from typing import TYPE_CHECKING, Any

from bot.stats.report import WEEKDAYS, BestTime, ChatReport, engagement_rate

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


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def activity_chart(report: ChatReport) -> bytes:
    with _lock:
        if report.kind == "channel":
            return _channel_chart(report)
        days = [d[5:] for d, *_ in report.series]
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.bar(days, [m for _, m, _, _ in report.series], color="#4C78A8", label="messages")
        ax.set_ylabel("messages")
        ax2 = ax.twinx()
        ax2.plot(
            days, [j for *_, j, _ in report.series], color="#59A14F", marker="o", label="joined"
        )
        ax2.plot(
            days, [left for *_, left in report.series], color="#E15759", marker="o", label="left"
        )
        ax2.set_ylabel("members")
        if report.complaint_share:
            ax3 = ax.twinx()
            ax3.spines["right"].set_position(("axes", 1.12))
            ax3.plot(
                days,
                [report.complaint_share.get(d, 0.0) for d, *_ in report.series],
                color="#B07AA1",
                linestyle="--",
                marker=".",
                label="complaints, %",
            )
            ax3.set_ylabel("complaints, % of messages")
            ax3.set_ylim(bottom=0)
        ax.set_title(f"{report.title}: last {report.days} days")
        step = max(1, len(days) // 10)
        ax.set_xticks(range(0, len(days), step), days[::step], rotation=45)
        fig.legend(loc="upper left")
        return _png(fig)


def _channel_chart(report: ChatReport) -> bytes:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6))
    if report.members:
        top.plot(
            [d[5:] for d, _ in report.members],
            [m for _, m in report.members],
            color="#4C78A8",
            marker="o",
        )
    top.set_title(f"{report.title}: subscribers")
    rates = [(p["message_id"], engagement_rate(p)) for p in report.posts]
    rates = [(str(mid), er) for mid, er in rates if er is not None]
    bottom.bar([m for m, _ in rates], [er for _, er in rates], color="#F28E2B")
    bottom.set_title("ER by subscribers per post, %")
    bottom.set_xlabel("post")
    fig.tight_layout()
    return _png(fig)


def heatmap_chart(best: BestTime, title: str) -> bytes:
    with _lock:
        fig, ax = plt.subplots(figsize=(10, 3.6))
        image = ax.imshow(best.grid, aspect="auto", cmap="YlOrRd")
        ax.set_yticks(range(7), WEEKDAYS)
        ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
        ax.set_xlabel("hour")
        ax.set_title(title)
        if best.best is not None:
            day, hour = best.best
            ax.add_patch(
                plt.Rectangle(
                    (hour - 0.5, day - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2
                )
            )
        fig.colorbar(image, ax=ax)
        return _png(fig)

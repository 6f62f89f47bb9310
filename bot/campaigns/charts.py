"""Joins per day by campaign as a PNG (stacked bars), drawn like the statistics charts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from bot.campaigns.logic import CampaignReport
from bot.stats import charts as stats_charts

COLORS = (
    "#4C78A8",
    "#F28E2B",
    "#59A14F",
    "#E15759",
    "#B07AA1",
    "#76B7B2",
    "#EDC948",
    "#FF9DA7",
    "#9C755F",
    "#BAB0AC",
)


def joins_chart(report: CampaignReport) -> bytes:
    # pyplot's global state is shared with the statistics charts: one chart at a time
    with stats_charts._lock:
        days = [d[5:] for d in report.day_labels]
        fig, ax = plt.subplots(figsize=(8, 4))
        bottom = [0] * len(days)
        for n, (label, values) in enumerate(report.series.items()):
            ax.bar(
                range(len(days)),
                values,
                bottom=bottom,
                color=COLORS[n % len(COLORS)],
                label=label[:32],
            )
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_ylabel("joins")
        ax.set_title(f"{report.title}: joins per day by campaign, last {report.days} days")
        step = max(1, len(days) // 10)
        ax.set_xticks(range(0, len(days), step), days[::step], rotation=45)
        if report.series:
            ax.legend(loc="upper left", fontsize="small")
        return stats_charts._png(fig)

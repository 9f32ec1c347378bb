"""Charts for the dashboard's panels, drawn by the Chart.js that django-unfold serves
locally (``unfold/js/chart/chart.js``, loaded by every back-office page; unfold's
``app.js`` draws every ``<canvas class="chart">`` from its ``data-value``). No CDN, no
inline script or style: the data travel in a data attribute (docs/decisions/0006).

A panel builds its chart with ``bar_chart`` (or ``line_chart``) and includes
``audits/charts/bar.html`` with it::

    chart = bar_chart(
        caption=_("Erasures per day"),
        labels=["11-01", "11-02"],                  # the x axis, already readable
        datasets=[Series(label=_("Retention"), data=[3, 0], links=[url1, url2], link=url)],
        axis=_("Day"),                              # the labels' column heading
    )
    {% include "audits/charts/bar.html" with chart=chart %}

Every figure is also shown in a table under the chart (screen readers, printing, and
every number is a link to the list behind it when the series gives ``links``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise

#: unfold's palette (CSS variables resolved by its app.js), one per series in turn.
PALETTE = (
    "var(--color-primary-500)",
    "var(--color-primary-300)",
    "var(--color-base-400)",
    "var(--color-primary-700)",
    "var(--color-base-600)",
    "var(--color-primary-200)",
)


@dataclass(frozen=True)
class Series:
    label: str | Promise
    data: Sequence[int | float]
    #: The list behind each figure ("" for none); as long as ``data`` or empty.
    links: Sequence[str] = field(default_factory=tuple)
    #: The list behind the series' total over all labels ("" for none).
    link: str = ""


def _chart(
    kind: str,
    caption: str | Promise,
    labels: Sequence[str],
    datasets: Sequence[Series],
    *,
    axis: str | Promise,
    height: int,
) -> dict[str, Any]:
    for series in datasets:
        if len(series.data) != len(labels) or (series.links and len(series.links) != len(labels)):
            raise ValueError(f"Series {series.label!s} does not match the {len(labels)} labels.")
    value = {
        "labels": [str(label) for label in labels],
        "datasets": [
            {
                "label": str(series.label),
                "data": list(series.data),
                "backgroundColor": PALETTE[n % len(PALETTE)],
                "borderColor": PALETTE[n % len(PALETTE)],
                # unfold's options: show the y axis's figures, at most 12 x-axis labels.
                "displayYAxis": True,
                "maxTicksXLimit": 12,
            }
            for n, series in enumerate(datasets)
        ],
    }
    series_rows = [
        {"label": str(series.label), "total": sum(series.data), "url": series.link}
        for series in datasets
    ]
    # The figures per label: one row per label, one cell per series (narrow at any width).
    label_rows = [
        {
            "label": str(label),
            "cells": [
                {
                    "n": series.data[i],
                    "url": series.links[i] if series.links else "",
                }
                for series in datasets
            ],
        }
        for i, label in enumerate(labels)
    ]
    return {
        "kind": kind,
        "caption": str(caption),
        "axis": str(axis),
        "series": series_rows,
        "rows": label_rows,
        "value": json.dumps(value, ensure_ascii=False, separators=(",", ":")),
        "height": height,
        "empty": not any(any(series.data) for series in datasets),
    }


def bar_chart(
    *,
    caption: str | Promise,
    labels: Sequence[str],
    datasets: Sequence[Series],
    axis: str | Promise = "",
    height: int = 220,
) -> dict[str, Any]:
    """The context of ``audits/charts/bar.html`` for a bar chart, one bar per series and
    label. A series whose length differs from ``labels`` is a ``ValueError`` (a
    programming error)."""
    return _chart("bar", caption, labels, datasets, axis=axis, height=height)


def line_chart(
    *,
    caption: str | Promise,
    labels: Sequence[str],
    datasets: Sequence[Series],
    axis: str | Promise = "",
    height: int = 220,
) -> dict[str, Any]:
    """The same contract, drawn as lines (a figure over time)."""
    return _chart("line", caption, labels, datasets, axis=axis, height=height)

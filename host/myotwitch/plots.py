"""Figures (matplotlib, Agg: no display needed): a session's raw signal with its events, and
the report's figures (rate per day, hour-of-day heat map, conditions, example twitches).

A session of hours holds millions of samples: the overview draws the envelope (min and max per
pixel column), never every sample, reading the raw file through a memory map; each twitch gets
its own zoom with the samples themselves.
"""

from __future__ import annotations

import io
import math

import numpy as np

from myotwitch.protocol import myoproto as mp

KIND_COLOURS = {"twitch": "#d62728", "burst": "#ff7f0e", "contraction": "#9467bd",
                "artifact": "#7f7f7f"}
OVERVIEW_COLUMNS = 3000  # envelope resolution of the overview
MAX_ZOOMS = 24
ZOOM_BEFORE_MS = 40
ZOOM_AFTER_MS = 80
TRACE = "#1f4e79"


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                         "axes.titlesize": 10, "axes.titleweight": "bold",
                         "svg.fonttype": "none"})
    return plt


class PlotError(ValueError):
    pass


# ---------------------------------------------------------------- a session


def _session_axis(store, session_id):
    """boot id -> (sample index at x = 0 of that boot, fs, x offset in seconds): the session's
    time axis in device samples, boot after boot. Sample indices, not clock syncs, so the raw
    signal and the events always line up (a sync is only as good as its round trip, and the
    virtual board's clock runs at its playback speed)."""
    axis, offset = {}, 0.0
    for b in store.session_boots(session_id):
        first, last, fs = b["first_index"], b["last_index"], b["fs"] or 1000
        if first is None:
            continue
        axis[b["boot_id"]] = (first, fs, offset)
        offset += (last - first) / fs
    return axis, offset


def _session_signal(store, session_id, axis):
    """[(segment, x0 seconds on the session's axis)] of the session's raw file, or None."""
    from myotwitch.rawfile import load_raw

    path = store.raw_path(session_id)
    if path is None or not path.exists():
        return None, None
    raw = load_raw(path, mmap=True)
    out = []
    for seg in raw.segments:
        first, fs, off = axis.get(seg.boot_id, (seg.first_index, seg.fs, 0.0))
        out.append((seg, off + (seg.first_index - first) / fs))
    return raw, out


def _event_x(axis, ev):
    """Seconds on the session's axis of an event (None for a boot the session did not see)."""
    a = axis.get(ev["boot_id"])
    if a is None:
        return None
    first, fs, off = a
    return off + (ev["onset"] - first) / fs


def _envelope(y: np.ndarray, columns: int):
    n = len(y)
    step = max(1, n // columns)
    m = (n // step) * step
    if m == 0:
        return np.arange(n), y, y
    blocks = np.asarray(y[:m]).reshape(-1, step)
    idx = np.arange(blocks.shape[0]) * step + step // 2
    return idx, blocks.min(axis=1), blocks.max(axis=1)


def _time_unit(span_s):
    if span_s > 3 * 3600:
        return 3600.0, "h"
    if span_s > 180:
        return 60.0, "min"
    return 1.0, "s"


def session_figure(store, session_id):
    """The figure for `myotwitch plot`: per channel an overview of the raw signal (envelope) with
    every event marked by kind, then a zoom on each twitch (up to MAX_ZOOMS, evenly picked)."""
    plt = _plt()
    s = store.session(session_id)
    if s is None:
        raise PlotError("no session %s (see `myotwitch sessions`)" % session_id)
    events = store.events(session_id)
    axis, length = _session_axis(store, session_id)
    raw, segs = _session_signal(store, session_id, axis)
    kinds = [mp.KIND_NAMES[e["kind"]] if 0 <= e["kind"] < 4 else "?" for e in events]
    xs = [_event_x(axis, e) for e in events]
    twitches = [i for i, k in enumerate(kinds) if k == "twitch" and xs[i] is not None]
    if len(twitches) > MAX_ZOOMS:
        twitches = [twitches[int(round(j))] for j in np.linspace(0, len(twitches) - 1, MAX_ZOOMS)]
    channels = raw.channels if raw is not None else sorted({e["channel"] for e in events}) or [0]
    span = max([length, 1.0] + [x for x in xs if x]
               + ([segs[-1][1] + segs[-1][0].rows / segs[-1][0].fs] if segs else []))
    unit, uname = _time_unit(span)
    zoom_rows = int(math.ceil(len(twitches) / 6)) if raw is not None else 0
    fig = plt.figure(figsize=(12, 2.6 * len(channels) + 1.9 * zoom_rows + 0.8),
                     layout="constrained")
    grid = fig.add_gridspec(len(channels) + zoom_rows, 6,
                            height_ratios=[2.6] * len(channels) + [1.9] * zoom_rows)
    counts = {k: kinds.count(k) for k in KIND_COLOURS}
    fig.suptitle("Session %d, %s (%s): %s" % (
        session_id, _safe(s["board"]), _when(s["started_at"]),
        ", ".join("%d %s" % (counts[k], k) for k in KIND_COLOURS)), fontweight="bold")
    for row, ch in enumerate(channels):
        ax = fig.add_subplot(grid[row, :])
        col = raw.channels.index(ch) if raw is not None else None
        lo_hi = []
        if raw is not None:
            for seg, x0 in segs:
                idx, lo, hi = _envelope(seg.data[:, col], OVERVIEW_COLUMNS // max(1, len(segs)))
                x = (x0 + idx / seg.fs) / unit
                ax.fill_between(x, lo, hi, color=TRACE, linewidth=0.4, step="mid")
                lo_hi += [float(lo.min()), float(hi.max())]
        ax.set_xlim(0, span / unit)
        mine = [i for i, e in enumerate(events) if e["channel"] == ch and xs[i] is not None]
        here = {k: sum(1 for i in mine if kinds[i] == k) for k in KIND_COLOURS}
        if raw is None:
            _raster(ax, events, kinds, xs, mine, unit, s)
        else:
            ymin, ymax = min(lo_hi[0::2]), max(lo_hi[1::2])
            pad = 0.08 * (ymax - ymin or 1)
            for i in mine:
                c = KIND_COLOURS.get(kinds[i], "k")
                dur = events[i]["duration"] / (s["fs"] or 1000)
                if kinds[i] in ("artifact", "contraction", "burst"):
                    ax.axvspan(xs[i] / unit, (xs[i] + dur) / unit, color=c, alpha=0.18, lw=0)
                ax.plot([xs[i] / unit], [ymax + pad], marker="v", ms=5, color=c, ls="none")
            ax.set_ylim(ymin - pad, ymax + 3 * pad)
            ax.set_ylabel("ch%d (ADC counts)" % ch)
        ax.set_xlim(0, span / unit)
        ax.set_xlabel("time from the session's start (%s)" % uname)
        handles = [plt.Line2D([], [], marker="v", color=c, ls="none", label="%s (%d)" % (k, here[k]))
                   for k, c in KIND_COLOURS.items() if here[k]]
        if handles:
            ax.legend(handles=handles, loc="upper right", ncols=len(handles), frameon=False,
                      fontsize=8, bbox_to_anchor=(1.0, 1.12))
    for j, i in enumerate(twitches if raw is not None else []):
        ax = fig.add_subplot(grid[len(channels) + j // 6, j % 6])
        _zoom(ax, events[i], xs[i], segs, raw, s)
    if raw is not None and not twitches:
        fig.text(0.01, 0.01, "no twitches in this session", fontsize=9)
    return fig


def _raster(ax, events, kinds, xs, mine, unit, s):
    """No raw samples: each event as a tick on its kind's row, twitches per bin behind them."""
    names = list(KIND_COLOURS)
    tw = np.array([xs[i] for i in mine if kinds[i] == "twitch"]) / unit
    if len(tw):
        end_s = max(tw.max() * unit, ax.get_xlim()[1] * unit, 1.0)
        width_min = next((w for w in (1, 2, 5, 10, 15, 20, 30, 60, 120)
                          if w >= end_s / 60 / 48), 240)  # a round width, at most ~48 bars
        edges = np.arange(0, end_s / 60 + width_min, width_min) * 60 / unit
        h, edges = np.histogram(tw, edges)
        ax2 = ax.twinx()
        ax2.bar(edges[:-1], h, width=np.diff(edges), align="edge", color="#d62728", alpha=0.12)
        ax2.set_ylabel("twitches per %d min" % width_min, color="#d62728", fontsize=8)
        ax2.spines["right"].set_visible(True)
        ax.set_zorder(ax2.get_zorder() + 1)  # the ticks in front of the bars
        ax.patch.set_visible(False)
    for i in mine:
        ax.plot([xs[i] / unit], [names.index(kinds[i]) if kinds[i] in names else 4], marker="|",
                ms=12, color=KIND_COLOURS.get(kinds[i], "k"), ls="none")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.invert_yaxis()
    ax.set_title("ch%d: no raw samples in this session (record with --raw to see the signal)"
                 % (events[mine[0]]["channel"] if mine else 0), fontweight="normal", loc="left")


def _zoom(ax, ev, x, segs, raw, s):
    col = raw.channels.index(ev["channel"])
    for seg, x0 in segs:
        fs = seg.fs
        i = int(round((x - x0) * fs))
        if 0 <= i < seg.rows:
            a = max(0, i - ZOOM_BEFORE_MS * fs // 1000)
            b = min(seg.rows, i + ZOOM_AFTER_MS * fs // 1000)
            t = (np.arange(a, b) - i) * 1000.0 / fs
            ax.plot(t, seg.data[a:b, col], color=TRACE, lw=0.9)
            ax.axvspan(0, ev["duration"] * 1000.0 / fs, color=KIND_COLOURS["twitch"], alpha=0.15,
                       lw=0)
            break
    else:
        ax.text(0.5, 0.5, "not in the raw file", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("%.2f s  ch%d  peak %d" % (x, ev["channel"], ev["peak"]), fontsize=8,
                 fontweight="normal")
    ax.tick_params(labelsize=7)
    ax.set_xlabel("ms from onset", fontsize=7)


def save(fig, path) -> None:
    """PNG or SVG by the file's suffix."""
    from pathlib import Path

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise PlotError("%s: give a .png or .svg file name" % path)
    fig.savefig(path, format=fmt, dpi=110)
    _plt().close(fig)


def png_bytes(fig, dpi=100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    _plt().close(fig)
    return buf.getvalue()


def _safe(text):
    from myotwitch.formats import safe

    return safe(text or "")


def _when(t):
    import datetime as dt

    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------- the report's figures


def rate_per_day_figure(stats: dict):
    """Daily rate with its 95 % interval; days with little wear drawn faint."""
    import datetime as dt

    plt = _plt()
    days = stats["days"]
    fig, ax = plt.subplots(figsize=(10, 3.4), layout="constrained")
    x = np.array([dt.date.fromisoformat(d["date"]) for d in days])
    r = np.array([d["rate"] for d in days], dtype=float)
    lo = np.array([d["low"] for d in days], dtype=float)
    hi = np.array([d["high"] for d in days], dtype=float)
    full = np.array([d["wear_hours"] >= 1.0 for d in days])
    ms = 4 if len(days) < 60 else 2
    for sel, alpha in ((full, 1.0), (~full, 0.3)):
        if sel.any():
            ax.vlines(x[sel], lo[sel], hi[sel], color="#9ecae1", lw=1.6 if ms == 4 else 0.8,
                      alpha=alpha)
            ax.plot(x[sel], r[sel], "o", color=TRACE, ms=ms, alpha=alpha)
    tr = stats["trend"]
    if "per_week" in tr and full.sum() >= 2:
        t0 = x[full][0]
        dd = np.array([(d - t0).days for d in x[full]])
        mean = stats["total"]["rate"]
        g = np.exp(np.log(tr["per_week"]) * (dd - dd.mean()) / 7.0) * mean
        ax.plot(x[full], g, color="#d62728", lw=1.2,
                label="trend: %s (x%.2f per week)" % (tr["verdict"], tr["per_week"]))
        ax.legend(frameon=False, loc="upper left")
    ax.set_ylabel("twitches per hour of wear")
    ax.set_ylim(bottom=0, top=float(np.nanpercentile(hi[full], 99)) * 1.1 if full.any() else None)
    ax.set_title("Rate per day, with 95 % intervals", loc="left")
    fig.autofmt_xdate()
    return fig


def hour_heatmap_figure(table):
    """Days (weeks when there are many) by hour of day, coloured by the rate; blank where the
    device was not worn."""
    import datetime as dt

    plt = _plt()
    from matplotlib.colors import Normalize

    day = table.day
    first = int(day.min())
    span = int(day.max()) - first + 1
    per = 7 if span > 62 else 1
    rows = (day - first) // per
    nrow = int(rows.max()) + 1
    k = np.zeros((nrow, 24))
    e = np.zeros((nrow, 24))
    np.add.at(k, (rows, table.hour_of_day), table.twitches)
    np.add.at(e, (rows, table.hour_of_day), table.exposure_s / 3600.0)
    rate = np.where(e >= 0.25 * per, k / np.maximum(e, 1e-9), np.nan)
    fig, (top, ax) = plt.subplots(2, 1, figsize=(10, 2.0 + min(7.0, 0.11 * nrow + 1.2)),
                                  height_ratios=[1, 3], sharex=True, layout="constrained")
    kh, eh = k.sum(axis=0), e.sum(axis=0)
    prof = np.where(eh >= 1.0, kh / np.maximum(eh, 1e-9), np.nan)
    top.bar(np.arange(24) + 0.5, prof, width=0.8, color=TRACE)
    top.set_ylabel("per hour")
    top.set_title("Hour of day (local): twitches per hour of wear", loc="left")
    vmax = np.nanpercentile(rate, 98) if np.isfinite(rate).any() else 1.0
    cmap = plt.get_cmap("magma_r").with_extremes(bad="#f2f2f2")
    im = ax.imshow(np.ma.masked_invalid(rate), aspect="auto", cmap=cmap,
                   norm=Normalize(0, vmax or 1.0), extent=(0, 24, nrow, 0),
                   interpolation="nearest")
    ax.set_xticks(range(0, 25, 3))
    ax.set_xlabel("hour of day")
    labels_at = np.linspace(0, nrow - 1, min(nrow, 8)).astype(int)
    ax.set_yticks(labels_at + 0.5)
    ax.set_yticklabels([(dt.date(1970, 1, 1) + dt.timedelta(days=first + int(i) * per)).isoformat()
                        for i in labels_at])
    ax.set_ylabel("week starting" if per == 7 else "day")
    fig.colorbar(im, ax=ax, label="twitches per hour", shrink=0.9)
    return fig


def conditions_figure(stats: dict):
    """Rate ratios with 95 % intervals (log scale); those without enough data listed faint."""
    plt = _plt()
    rows = [c for c in stats["conditions"]]
    fig, ax = plt.subplots(figsize=(10, 0.42 * max(3, len(rows)) + 1.0), layout="constrained")
    for i, c in enumerate(rows):
        y = len(rows) - 1 - i
        if c["ratio"] is None or c["verdict"] == "not enough data yet" or not c["low"]:
            ax.text(1.0, y, "not enough data yet", va="center", ha="center", color="#999999",
                    fontsize=8)
            continue
        colour = {"higher": "#d62728", "lower": "#2ca02c"}.get(c["verdict"], TRACE)
        ax.plot([c["low"], c["high"]], [y, y], color=colour, lw=2)
        ax.plot([c["ratio"]], [y], "o", color=colour)
        ax.text(c["high"] * 1.04, y, "%.1fx (%.1f-%.1f)" % (c["ratio"], c["low"], c["high"]),
                va="center", fontsize=8)
    ax.axvline(1.0, color="#444444", lw=0.8, ls="--")
    ax.set_xscale("log")
    ratios = [v for c in rows for v in (c["low"], c["high"]) if c["ratio"] and c["low"]]
    lo = min(ratios + [0.5]) * 0.8
    hi = max(ratios + [2.0]) * 1.6
    ax.set_xlim(lo, hi)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([c["phrase"] for c in reversed(rows)])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("your rate then, against the rest of the time it was logged (ratio, log scale)")
    ax.set_title("Conditions compared", loc="left")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    ax.xaxis.set_major_locator(FixedLocator([v for v in (0.1, 0.25, 0.5, 1, 2, 4, 8, 16)
                                             if lo <= v <= hi]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "%gx" % v))
    ax.xaxis.set_minor_formatter(NullFormatter())
    return fig


def waveforms_figure(examples: list[dict]):
    """A few twitches from raw recordings: each {'t_ms', 'y', 'title', 'unit'}."""
    plt = _plt()
    n = len(examples)
    cols = min(n, 3)
    rows = int(math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.2 * rows), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, ex in zip(axes.ravel(), examples):
        ax.plot(ex["t_ms"], ex["y"], color=TRACE, lw=1)
        ax.axvspan(0, ex["duration_ms"], color=KIND_COLOURS["twitch"], alpha=0.15, lw=0)
        ax.set_title(ex["title"], fontsize=8, fontweight="normal")
        ax.set_xlabel("ms from onset", fontsize=8)
        ax.set_ylabel(ex["unit"], fontsize=8)
    fig.suptitle("Example twitches from raw recordings", fontweight="bold", x=0.01, ha="left",
                 fontsize=10)
    return fig

"""`myotwitch report`: one self-contained HTML file (no network, every figure embedded as a
data URI) that opens with a double-click: rate per day with intervals, the hour-of-day heat map,
conditions compared, sessions listed, a few example twitches from raw recordings, what was left
out, and the health note.
"""

from __future__ import annotations

import base64
import datetime as dt
import html

import numpy as np

from myotwitch import __version__, plots, stats, wear
from myotwitch.export import session_rows, where
from myotwitch.formats import safe
from myotwitch.notes import describe, list_notes
from myotwitch.summary import HEALTH_NOTE

MAX_EXAMPLES = 6
MAX_SESSIONS = 200

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;
 background:#fafafa;color:#1d1d1f;line-height:1.45}
main{max-width:1060px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.2em;margin:28px 0 8px;border-bottom:1px solid #ddd;
 padding-bottom:4px}
.sub{color:#555;margin:0 0 16px}
.health{background:#fff4e5;border-left:5px solid #f0a020;padding:10px 14px;margin:14px 0}
.big{font-size:1.25em}.muted{color:#666;font-size:.92em}
figure{margin:10px 0}figure img{width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}
table{border-collapse:collapse;font-size:.9em;width:100%}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eee}th{background:#f4f4f4}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.higher{color:#b22222;font-weight:600}.lower{color:#1e7b1e;font-weight:600}
ul{margin:4px 0 8px 20px;padding:0}
"""


def _img(fig, alt) -> str:
    data = base64.b64encode(plots.png_bytes(fig, dpi=96)).decode("ascii")
    return '<img alt="%s" src="data:image/png;base64,%s">' % (html.escape(alt), data)


def _e(text) -> str:
    return html.escape(safe(text if text is not None else ""))


def _when(t) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") if t else "-"


def twitch_examples(store, since_ms=None, until_ms=None, device=None, n=MAX_EXAMPLES) -> list:
    """Up to n twitches from sessions with raw samples, spread over them: waveforms in µV where
    the board's scale is known, else ADC counts."""
    from myotwitch.boards import uv_scale
    from myotwitch.rawfile import load_raw

    sql, args = where(since_ms, until_ms, device)
    rows = store.conn.execute(
        "SELECT e.onset, e.boot_id, e.channel, e.duration, e.peak, e.onset_unix_ms,"
        " s.id AS session_id, s.raw_path, d.board FROM events e JOIN sessions s ON"
        " s.id = e.session_id JOIN devices d ON d.id = e.device_id WHERE e.kind = 0 AND"
        " s.raw_path IS NOT NULL" + sql + " ORDER BY e.onset_unix_ms, e.id", args).fetchall()
    if not rows:
        return []
    picks = [rows[int(round(i))] for i in np.linspace(0, len(rows) - 1, min(n * 3, len(rows)))]
    out, loaded = [], {}
    for r in picks:
        if len(out) >= n:
            break
        path = store.root / r["raw_path"]
        if r["session_id"] not in loaded:
            try:
                loaded[r["session_id"]] = load_raw(path, mmap=True)
            except (OSError, ValueError, KeyError):
                loaded[r["session_id"]] = None
        raw = loaded[r["session_id"]]
        if raw is None or r["channel"] not in raw.channels:
            continue
        scale, unit = uv_scale(r["board"])
        unit = "µV" if unit == "uV" else "ADC counts"
        for k, seg in enumerate(raw.segments):
            i = r["onset"] - seg.first_index
            if seg.boot_id != r["boot_id"] or not (0 <= i < seg.rows):
                continue
            valid = raw.valid_mask(k)[:, raw.channels.index(r["channel"])]
            a = max(0, i - plots.ZOOM_BEFORE_MS * seg.fs // 1000)
            b = min(seg.rows, i + plots.ZOOM_AFTER_MS * seg.fs // 1000)
            if not valid[a:b].all():
                continue  # lost frames inside: zeros, not data
            y = seg.data[a:b, raw.channels.index(r["channel"])].astype(float) * scale
            out.append({"t_ms": (np.arange(a, b) - i) * 1000.0 / seg.fs, "y": y - np.median(y),
                        "unit": unit, "duration_ms": r["duration"] * 1000.0 / seg.fs,
                        "title": "session %d, %s, ch%d, peak %d" % (
                            r["session_id"], _when((r["onset_unix_ms"] or 0) / 1000),
                            r["channel"], r["peak"])})
            break
    return out


def build_report(store, since_ms=None, until_ms=None, device=None, now=None) -> str:
    """The report as one HTML document (str)."""
    table = wear.build(store, since_ms, until_ms, device)
    notes = list_notes(store, since_ms, until_ms)
    s = stats.compute(table, notes)
    now = now or dt.datetime.now().astimezone()
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             "<title>myotwitch report</title><style>%s</style></head><body><main>" % CSS]
    period = ("%s to %s" % (s["first_day"], s["last_day"])) if s["first_day"] else "no wear yet"
    parts.append("<h1>Twitch report: %s</h1>" % _e(period))
    parts.append("<p class='sub'>%s%s. Made by myotwitch %s on %s.</p>" % (
        "device " if len(s["devices"]) == 1 else "devices ", _e(", ".join(s["devices"]) or "-"),
        _e(__version__), _e(now.strftime("%Y-%m-%d %H:%M %Z"))))
    parts.append("<div class='health'><b>Health note.</b> %s Twitches are common and mostly "
                 "harmless (stress, caffeine, fatigue, dehydration, electrolytes).</div>"
                 % _e(HEALTH_NOTE))
    tot = s["total"]
    if not tot["wear_hours"]:
        parts.append("<p>No hours of wear with a clock sync in this period: record "
                     "(<code>myotwitch record</code>) or pull (<code>myotwitch pull</code>) "
                     "first.</p>")
        parts.append(_left_out(s))
        parts.append("</main></body></html>")
        return "".join(parts)
    parts.append("<p class='big'><b>%.1f twitches per hour of wear</b> (95 %% interval "
                 "%.1f&ndash;%.1f): %d twitches in %.1f hours of wear over %d days.</p>"
                 % (tot["rate"], tot["low"], tot["high"], tot["twitches"], tot["wear_hours"],
                    len(s["days"])))
    parts.append("<p>%s</p>" % _e(_trend_sentence(s["trend"])))
    parts.append(_left_out(s))

    parts.append("<h2>Rate per day</h2><figure>%s<figcaption>Each dot is a day's twitches per "
                 "hour of wear; the bar is its exact Poisson 95 %% interval, widened for bunching "
                 "(phi %.2f). Faint: days with less than an hour of wear.</figcaption></figure>"
                 % (_img(plots.rate_per_day_figure(s), "rate per day"),
                    s["dispersion"]["within_days"]))
    parts.append("<h2>Hour of day</h2><figure>%s<figcaption>Top: twitches per hour of wear for "
                 "each hour of the local day. Below: the same per %s; grey where the device was "
                 "not worn. %s</figcaption></figure>"
                 % (_img(plots.hour_heatmap_figure(table), "hour-of-day heat map"),
                    "week" if int(table.day.max() - table.day.min()) > 62 else "day",
                    _e(_hour_sentence(s["hour_of_day"]))))
    parts.append("<h2>Conditions compared</h2>")
    if s["conditions"]:
        parts.append("<figure>%s</figure>" % _img(plots.conditions_figure(s), "conditions"))
        parts.append(_conditions_table(s["conditions"]))
        parts.append("<p class='muted'>Each line compares your rate at that time with the rest of "
                     "the time the same factor was logged, hour for hour of the day (an evening "
                     "condition is compared with other evenings): a comparison of your own "
                     "counts, not a cause. &ldquo;Not enough data yet&rdquo;: the interval spans more than a "
                     "%g-fold range, or either side has under %g hours of wear.</p>"
                     % (stats.WIDE, stats.MIN_GROUP_HOURS))
    else:
        parts.append("<p>No conditions logged in this period. Log them with "
                     "<code>myotwitch note add --caffeine 2 --sleep 6.5 --tag run</code>.</p>")
    if s["advice"]:
        parts.append("<p><b>From your own figures:</b></p><ul>%s</ul>"
                     % "".join("<li>%s</li>" % _e(a) for a in s["advice"]))
    else:
        parts.append("<p>No logged condition goes with a clearly higher rate yet. %s</p>"
                     % _e(stats.KNOWN_FACTORS))
    examples = twitch_examples(store, since_ms, until_ms, device)
    parts.append("<h2>Example twitches</h2>")
    if examples:
        parts.append("<figure>%s<figcaption>Twitches from sessions recorded with "
                     "<code>--raw</code>, spread over the period; shaded: the event as the device "
                     "timed it.</figcaption></figure>"
                     % _img(plots.waveforms_figure(examples), "example twitch waveforms"))
    else:
        parts.append("<p>No twitches with raw samples in this period (record with "
                     "<code>myotwitch record --raw</code> to see them).</p>")
    parts.append(_sessions_table(store, since_ms, until_ms, device))
    parts.append(_notes_table(notes))
    parts.append("<h2>How these figures are made</h2><p class='muted'>Only time the device was "
                 "worn and logging counts: recorded sessions and the spans of logs pulled from "
                 "the device, without artifacts, dropped samples and records missing from the "
                 "log; boots without a clock sync cannot be placed in time and are left out. "
                 "Intervals are exact Poisson intervals, widened by the measured over-dispersion "
                 "(twitches come in bunches, and days differ more than chance alone). Trend: %s. "
                 "Times are local.</p>" % _e(s["trend"]["test"]))
    parts.append("<div class='health'>%s</div>" % _e(HEALTH_NOTE))
    parts.append("</main></body></html>")
    return "\n".join(parts)


def write_report(store, path, since_ms=None, until_ms=None, device=None) -> int:
    """Write the report; returns its size in bytes."""
    from pathlib import Path

    text = build_report(store, since_ms, until_ms, device)
    Path(path).write_text(text, encoding="utf-8")
    return len(text.encode("utf-8"))


def _trend_sentence(tr) -> str:
    if tr["verdict"] == stats.NOT_ENOUGH:
        return "Trend over days: %s (%s)." % (stats.NOT_ENOUGH, tr["reason"])
    return ("Trend over days: %s (x%.2f per week, 95 %% interval %.2f-%.2f, p %s, %d days)."
            % (tr["verdict"], tr["per_week"], tr["low"], tr["high"], stats.p_text(tr["p"]), tr["days"]))


def _hour_sentence(hod) -> str:
    t = hod.get("test")
    if not t:
        return ""
    return "The hours differ %s (chi-square %.1f on %d df, p %s)." % (
        "more than chance alone" if t["p"] < 0.05 else "no more than chance alone", t["chi2"],
        t["df"], stats.p_text(t["p"]))


def _left_out(s) -> str:
    items = stats.excluded_lines(s["excluded"])
    if not items:
        return "<p class='muted'>%s Nothing had to be left out.</p>" % stats.WEAR_NOTE
    return "<p class='muted'>%s Left out:</p><ul class='muted'>%s</ul>" % (
        stats.WEAR_NOTE, "".join("<li>%s</li>" % _e(x) for x in items))


def _conditions_table(conds) -> str:
    rows = []
    for c in conds:
        if c["ratio"] is None or c["verdict"] == stats.NOT_ENOUGH:
            fig, cls = stats.NOT_ENOUGH, ""
        else:
            fig = "%.1fx (%.1f&ndash;%.1f) the rest, %s" % (c["ratio"], c["low"], c["high"],
                                                            _e(c["verdict"]))
            cls = c["verdict"] if c["verdict"] in ("higher", "lower") else ""
        rows.append("<tr><td>%s</td><td class='%s'>%s</td><td class='n'>%.1f h</td>"
                    "<td class='n'>%.1f h</td><td class='n'>%d</td></tr>"
                    % (_e(c["phrase"]), cls, fig, c["wear_hours"], c["other_hours"], c["days"]))
    return ("<table><tr><th>your rate</th><th>against the rest</th><th>wear then</th>"
            "<th>wear otherwise</th><th>days</th></tr>%s</table>" % "".join(rows))


def _sessions_table(store, since_ms, until_ms, device) -> str:
    rows = session_rows(store, since_ms, until_ms, device)[::-1]  # newest first
    counts = {r[0]: (r[1], r[2]) for r in store.conn.execute(
        "SELECT session_id, count(*), sum(kind = 0) FROM events GROUP BY session_id")}
    out = ["<h2>Sessions (%d)</h2>" % len(rows)]
    if not rows:
        out.append("<p>No recorded sessions in this period (pulled logs count all the same).</p>")
        return "".join(out)
    out.append("<table><tr><th>id</th><th>started</th><th>length</th><th>device</th>"
               "<th>events</th><th>twitches</th><th>raw</th><th>notes</th></tr>")
    for r in rows[:MAX_SESSIONS]:
        length = ("%.1f h" % ((r["ended_at"] - r["started_at"]) / 3600) if r["ended_at"]
                  else "open")
        out.append("<tr><td class='n'>%d</td><td>%s</td><td class='n'>%s</td><td>%s</td>"
                   "<td class='n'>%d</td><td class='n'>%d</td><td>%s</td><td>%s</td></tr>"
                   % (r["id"], _when(r["started_at"]), length, _e(r["device"]),
                      *counts.get(r["id"], (0, 0)), "yes" if r["raw_path"] else "",
                      _e((r["notes"] or "")[:60])))
    out.append("</table>")
    if len(rows) > MAX_SESSIONS:
        out.append("<p class='muted'>and %d older sessions (<code>myotwitch sessions</code> lists "
                   "them all).</p>" % (len(rows) - MAX_SESSIONS))
    return "".join(out)


def _notes_table(notes) -> str:
    if not notes:
        return ""
    from myotwitch.formats import iso_ms

    shown = notes[-100:]
    out = ["<h2>Notes (%d%s)</h2><table><tr><th>from</th><th>to</th><th>what</th></tr>"
           % (len(notes), ", the latest 100" if len(notes) > 100 else "")]
    for n in reversed(shown):
        out.append("<tr><td>%s</td><td>%s</td><td>%s</td></tr>"
                   % (_e(iso_ms(n.start_ms)[:16].replace("T", " ")),
                      _e(iso_ms(n.end_ms)[:16].replace("T", " ") if n.end_ms else "end of day"),
                      html.escape(describe(n))))
    out.append("</table>")
    return "".join(out)

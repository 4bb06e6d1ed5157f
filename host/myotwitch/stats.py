"""The numbers the wearer asks for: twitches per hour of wear, by day, channel and hour of day;
whether the rate is rising or falling; how it compares under the conditions they logged.

Everything is per hour of *wear* (wear.py: only time the device was on and logging; what was
left out is listed). Rates carry exact Poisson 95 % intervals (chi-square quantiles), widened for
the measured over-dispersion phi: twitches come in bunches and days differ more than chance
alone would make them, so counts and hours are both divided by phi before the exact interval is
taken (a quasi-Poisson scaling; phi = 1 gives the plain exact interval). The words are counts
and comparisons, never causes and never a diagnosis.
"""

from __future__ import annotations

import math

import numpy as np

from myotwitch import notes as notes_mod
from myotwitch.formats import iso_ms
from myotwitch.rates import NOT_ENOUGH, poisson_ci, rate_ratio_ci
from myotwitch.summary import HEALTH_NOTE
from myotwitch.wear import WearTable, day_date

WIDE = 4.0  # an interval spanning more than a 4-fold range says nothing useful: "not enough data"
MIN_GROUP_HOURS = 2.0  # each side of a comparison needs this much wear
MIN_HOUR_WEAR = 1.0  # hours of wear an hour of the day needs before its rate is shown
MIN_DAYS = 3  # days with wear before comparisons and a trend are tried
TREND_P = 0.05

# Level phrases: "your rate <phrase>: 1.8x the rest". Tags read "with #tag".
PHRASES = {
    "caffeine": {"0 cups": "after no caffeine", "1-2 cups": "after 1-2 cups",
                 "3+ cups": "after 3+ cups"},
    "sleep": {"under 6 h": "after under 6 h of sleep", "6-8 h": "after 6-8 h of sleep",
              "8+ h": "after 8+ h of sleep"},
    "stress": {"stress 0-3": "at stress 0-3", "stress 4-6": "at stress 4-6",
               "stress 7-10": "at stress 7-10"},
    "exercise": {"no exercise": "on days without exercise so far",
                 "under 60 min": "after under 60 min of exercise",
                 "60+ min": "after 60+ min of exercise"},
    "hydration": {"under 1.5 L": "after under 1.5 L to drink",
                  "1.5-2.5 L": "after 1.5-2.5 L to drink", "2.5+ L": "after 2.5+ L to drink"},
    "magnesium": {"no magnesium": "without magnesium", "magnesium": "after magnesium"},
    "alcohol": {"no alcohol": "without alcohol", "1-2 drinks": "after 1-2 drinks",
                "3+ drinks": "after 3+ drinks"},
}
# The well-known factors, and which of the person's own levels a tip goes with (a tip is given
# only when their own rate at that level is clearly higher than at the rest).
TIPS = {
    "caffeine": ({"1-2 cups", "3+ cups"}, "cutting down on caffeine is worth trying"),
    "sleep": ({"under 6 h"}, "more sleep is worth trying"),
    "stress": ({"stress 7-10", "stress 4-6"}, "ways to lower stress (rest, a walk, relaxation) "
                                              "are worth trying"),
    "exercise": ({"60+ min"}, "easing off hard exercise, or more rest after it, is worth trying"),
    "hydration": ({"under 1.5 L"}, "drinking more water is worth trying"),
    "alcohol": ({"1-2 drinks", "3+ drinks"}, "less alcohol is worth trying"),
    "magnesium": ({"no magnesium"}, "magnesium-rich food is worth trying (ask a pharmacist or "
                                    "doctor before taking supplements)"),
}
KNOWN_FACTORS = ("Well-known factors to try: less caffeine, enough sleep, lower stress, rest after "
                 "hard exercise, enough to drink, less alcohol.")
WEAR_NOTE = "Only time the device was worn and logging counts."


def _dispersion(obs, expected, params) -> float:
    """Pearson chi-square / degrees of freedom, at least 1; 1 when there is too little to say."""
    obs = np.asarray(obs, dtype=float)
    e = np.asarray(expected, dtype=float)
    ok = e > 0
    df = int(ok.sum()) - params
    if df < 2:
        return 1.0
    x2 = float((((obs[ok] - e[ok]) ** 2) / e[ok]).sum())
    return max(1.0, x2 / df)


# ---------------------------------------------------------------- the parts


def _rate(k, seconds, phi=1.0) -> dict:
    h = float(seconds) / 3600.0
    lo, hi = poisson_ci(k, h, phi)
    return {"wear_hours": round(h, 3), "twitches": int(k),
            "rate": (k / h) if h > 0 else None, "low": lo if h > 0 else None,
            "high": hi if h > 0 else None}


def _per_day(days, counts, exposure):
    uday, inv = np.unique(days, return_inverse=True)
    inv = inv.ravel()
    return (uday, np.bincount(inv, weights=counts, minlength=len(uday)),
            np.bincount(inv, weights=exposure, minlength=len(uday)), inv)


def within_day_dispersion(t: WearTable) -> float:
    """Quarters against their own day's rate: how bunched twitches are within a day."""
    uday, k, e, inv = _per_day(t.day, t.twitches, t.exposure_s)
    rate = np.divide(k, e, out=np.zeros(len(k)), where=e > 0)
    return _dispersion(t.twitches, rate[inv] * t.exposure_s, len(uday))


def between_day_dispersion(t: WearTable) -> float:
    """Days against one rate for all (trend, conditions and hour of day left in: conservative)."""
    uday, k, e, _ = _per_day(t.day, t.twitches, t.exposure_s)
    if len(uday) < MIN_DAYS or e.sum() <= 0:
        return 1.0
    return _dispersion(k, k.sum() / e.sum() * e, 1)


def trend(t: WearTable) -> dict:
    """Rising, falling or no clear change: a Poisson regression of each day's count on the day
    (offset: log hours of wear), with the scale taken from the data (quasi-Poisson), Wald test
    of the slope."""
    import statsmodels.api as sm

    test = ("Poisson regression of daily twitch counts on the day (log hours of wear as offset, "
            "quasi-Poisson scale), Wald test of the slope")
    uday, k, e, _ = _per_day(t.day, t.twitches, t.exposure_s)
    keep = e >= 0.25 * 3600
    uday, k, e = uday[keep], k[keep], e[keep]
    out = {"test": test, "days": int(len(uday))}
    if len(uday) < MIN_DAYS + 1 or k.sum() == 0:
        out.update(verdict=NOT_ENOUGH, reason="needs %d days with wear and some twitches, has %d"
                   % (MIN_DAYS + 1, len(uday)))
        return out
    x = sm.add_constant((uday - uday[0]) / 7.0)
    fit = sm.GLM(k, x, family=sm.families.Poisson(), offset=np.log(e / 3600.0)).fit(scale="X2")
    b, se, p = float(fit.params[1]), float(fit.bse[1]), float(fit.pvalues[1])
    lo, hi = math.exp(b - 1.96 * se), math.exp(b + 1.96 * se)
    if p < TREND_P:
        verdict = "rising" if b > 0 else "falling"
    else:
        verdict = "no clear change"
    out.update(verdict=verdict, per_week=math.exp(b), low=lo, high=hi, p=p,
               dispersion=float(fit.scale))
    return out


def hour_of_day(t: WearTable, phi: float) -> dict:
    """Rates by hour of the local day, and whether the hours differ more than chance: a Pearson
    chi-square of each hour's count against what the same days' own rates give for it (so a
    busy day does not count for an hour), divided by the within-day dispersion phi."""
    from scipy.stats import chi2

    h = t.hour_of_day
    k = np.bincount(h, weights=t.twitches, minlength=24)
    e = np.bincount(h, weights=t.exposure_s, minlength=24)
    rows = [dict(hour=i, **_rate(k[i], e[i], phi)) for i in range(24)]
    for r in rows:
        r["enough"] = r["wear_hours"] >= MIN_HOUR_WEAR
    uday, dk, de, inv = _per_day(t.day, t.twitches, t.exposure_s)
    day_rate = np.divide(dk, de, out=np.zeros(len(dk)), where=de > 0)
    expected = np.bincount(h, weights=day_rate[inv] * t.exposure_s, minlength=24)
    use = (e >= MIN_HOUR_WEAR * 3600) & (expected > 0)
    out = {"hours": rows}
    if use.sum() >= 2 and k.sum() > 0:
        x2 = float((((k[use] - expected[use]) ** 2) / expected[use]).sum()) / phi
        df = int(use.sum()) - 1
        out["test"] = {"name": "Pearson chi-square of each hour's count against its days' own "
                               "rates, within-day over-dispersion taken out",
                       "chi2": x2, "df": df, "p": float(chi2.sf(x2, df))}
    return out


def _phrase(factor, level):
    if factor == "tag":
        return "with #%s" % level
    return PHRASES.get(factor, {}).get(level, level)


def hour_weights(t: WearTable, prior_hours: float = 2.0) -> np.ndarray:
    """Each quarter's wear in "typical hours": seconds x (the hour of day's rate / the overall
    rate), the hour's rate shrunk towards the overall one by `prior_hours` of wear. Comparing
    with these weights compares hour for hour of the day (an evening tag is not held against
    the quieter mornings): indirect standardisation."""
    total = t.exposure_s.sum()
    if total <= 0 or t.twitches.sum() == 0:
        return t.exposure_s.copy()
    overall = t.twitches.sum() / total
    h = t.hour_of_day
    k = np.bincount(h, weights=t.twitches, minlength=24)
    e = np.bincount(h, weights=t.exposure_s, minlength=24)
    rate = (k + overall * prior_hours * 3600) / (e + prior_hours * 3600)
    return t.exposure_s * rate[h] / overall


def compare(t: WearTable, conds: notes_mod.Conditions, phi_within: float) -> list[dict]:
    """Each factor level and each tag against the rest of the time that factor was known, hour
    for hour of the day (hour_weights), with an exact interval (rate_ratio_ci)."""
    out = []
    w = hour_weights(t)
    groups = []
    for name, v in conds.values.items():
        known = ~np.isnan(v)
        if not known.any():
            continue
        f = notes_mod.FACTORS[name]
        labels = np.array([f.level(x) if k else "" for x, k in zip(v, known)], dtype=object)
        for _, label in f.levels:
            groups.append((name, label, known & (labels == label), known))
    for tag, on in conds.tags.items():
        groups.append(("tag", tag, on, np.ones(len(on), dtype=bool)))
    for factor, level, on, known in groups:
        rest = known & ~on
        ta, tb = float(t.exposure_s[on].sum()), float(t.exposure_s[rest].sum())
        if ta <= 0:
            continue
        a, b = float(t.twitches[on].sum()), float(t.twitches[rest].sum())
        days = np.unique(t.day[known])
        row = {"factor": factor, "level": level, "phrase": _phrase(factor, level),
               "wear_hours": ta / 3600, "other_hours": tb / 3600, "twitches": int(a),
               "other_twitches": int(b), "days": int(len(np.unique(t.day[on]))),
               "days_known": int(len(days))}
        if ta < MIN_GROUP_HOURS * 3600 or tb < MIN_GROUP_HOURS * 3600 or len(days) < MIN_DAYS:
            row.update(ratio=None, low=None, high=None, dispersion=None, verdict=NOT_ENOUGH)
            out.append(row)
            continue
        wa, wb = float(w[on].sum()), float(w[rest].sum())
        # over-dispersion between days under this comparison's own two rates
        ra, rb = a / wa, b / wb
        sel = known
        uday, inv = np.unique(t.day[sel], return_inverse=True)
        inv = inv.ravel()
        obs = np.bincount(inv, weights=t.twitches[sel], minlength=len(uday))
        exp_ = np.bincount(inv, weights=np.where(on[sel], ra, rb) * w[sel], minlength=len(uday))
        phi = max(phi_within, _dispersion(obs, exp_, 2))
        rr, lo, hi = rate_ratio_ci(a, wa, b, wb, phi)
        if not (lo > 0 and math.isfinite(hi)) or hi / lo > WIDE:
            verdict = NOT_ENOUGH
        elif lo > 1:
            verdict = "higher"
        elif hi < 1:
            verdict = "lower"
        else:
            verdict = "no clear difference"
        row.update(ratio=rr, low=lo, high=hi, dispersion=phi, verdict=verdict)
        out.append(row)
    return out


def advice(conditions: list[dict]) -> list[str]:
    """The person's own clear differences that match a well-known factor, with the general tip."""
    out = []
    for c in conditions:
        tip = TIPS.get(c["factor"])
        if tip and c["verdict"] == "higher" and c["level"] in tip[0]:
            out.append("your rate %s: %s; %s" % (c["phrase"], _ratio_text(c), tip[1]))
    return out


def _ratio_text(c) -> str:
    return "%.1fx (%.1f-%.1f)" % (c["ratio"], c["low"], c["high"])


# ---------------------------------------------------------------- all of it


def compute(t: WearTable, notes: list, forecast: bool = False) -> dict:
    """Everything `myotwitch stats` says, as a dict (JSON-ready: ISO dates, plain numbers)."""
    phi_w = within_day_dispersion(t)
    phi_b = max(phi_w, between_day_dispersion(t))
    total = _rate(t.twitches.sum(), t.exposure_s.sum(), phi_b)
    uday, k, e, _ = _per_day(t.day, t.twitches, t.exposure_s)
    days = [dict(date=day_date(d).isoformat(), **_rate(k[i], e[i], phi_w))
            for i, d in enumerate(uday)]
    channels = []
    for (dev, ch), counts in t.channels.items():
        exp = t.device_exposure[dev]
        cu, ck, ce, _ = _per_day(t.day, counts, exp)
        row = {"device": dev, "channel": ch, **_rate(counts.sum(), exp.sum(), phi_b)}
        row["days"] = [dict(date=day_date(d).isoformat(), **_rate(ck[i], ce[i], phi_w))
                       for i, d in enumerate(cu) if ce[i] > 0]
        channels.append(row)
    conds = notes_mod.timeline(notes, t.mid_ms) if notes else notes_mod.Conditions({}, {})
    comparisons = compare(t, conds, phi_w) if not t.empty() else []
    out = {
        "since": iso_ms(t.since_ms), "until": iso_ms(t.until_ms),
        "first_day": days[0]["date"] if days else None,
        "last_day": days[-1]["date"] if days else None,
        "devices": t.devices,
        "total": total, "events": t.events,
        "dispersion": {"within_days": phi_w, "between_days": phi_b},
        "days": days, "channels": channels,
        "hour_of_day": hour_of_day(t, phi_w),
        "trend": trend(t),
        "conditions": comparisons,
        "advice": advice(comparisons),
        "notes": len(notes),
        "excluded": t.excluded,
        "health_note": HEALTH_NOTE,
    }
    if forecast:
        from myotwitch.forecast import forecast as run_forecast

        out["forecast"] = run_forecast(t, notes)
    return out


# ---------------------------------------------------------------- text


def p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else "= %.2g" % p


def _hours(h: float) -> str:
    return "%.1f h" % h if h >= 1 else "%.0f min" % (h * 60)


def _r(row) -> str:
    if row["rate"] is None:
        return "-"
    return "%.1f/h (%.1f-%.1f)" % (row["rate"], row["low"], row["high"])


def excluded_lines(ex: dict) -> list[str]:
    out = []
    if ex["unsynced_boots"]:
        out.append("%d boot(s) without a clock sync (%.1f h, %d events, %d twitches): their time "
                   "cannot be placed" % (ex["unsynced_boots"], ex["unsynced_seconds"] / 3600,
                                         ex["unsynced_events"], ex["unsynced_twitches"]))
    elif ex["unsynced_events"]:
        out.append("%d events of boots without a clock sync: their time cannot be placed"
                   % ex["unsynced_events"])
    if ex["artifact_seconds"]:
        out.append("%.1f min under artifacts (motion, electrode pops: no twitch can be seen)"
                   % (ex["artifact_seconds"] / 60))
    if ex["dropped_seconds"]:
        out.append("%.1f s of samples the device dropped" % ex["dropped_seconds"])
    if ex["log_gap_records"]:
        out.append("%d records missing from the device's log (%.1f h around them left out%s)"
                   % (ex["log_gap_records"], ex["log_gap_seconds"] / 3600,
                      "; %d gap(s) could not be placed in time" % ex["log_gaps_unplaced"]
                      if ex["log_gaps_unplaced"] else ""))
    return out


def format_stats(s: dict, days_shown: int = 14) -> str:
    lines = []
    tot = s["total"]
    if not tot["wear_hours"]:
        lines.append("No hours of wear with a clock sync in this period: record or pull first.")
        lines += ["Left out: " + x for x in excluded_lines(s["excluded"])]
        lines.append(HEALTH_NOTE)
        return "\n".join(lines)
    lines.append("Twitches per hour of wear, %s to %s: %s, %d twitches in %s of wear"
                 % (s["first_day"], s["last_day"], _r(tot), tot["twitches"],
                    _hours(tot["wear_hours"])))
    lines.append("  " + WEAR_NOTE + " Intervals: exact Poisson 95 %%, widened for bunching "
                 "(phi %.2f within days, %.2f between days)."
                 % (s["dispersion"]["within_days"], s["dispersion"]["between_days"]))
    for x in excluded_lines(s["excluded"]):
        lines.append("  Left out: " + x)
    lines.append("")
    days = s["days"]
    lines.append("By day%s:" % (" (last %d of %d)" % (days_shown, len(days))
                                if len(days) > days_shown else ""))
    for d in days[-days_shown:]:
        lines.append("  %s  %8s  %6d twitches  %s" % (d["date"], _hours(d["wear_hours"]),
                                                        d["twitches"], _r(d)))
    if len(s["channels"]) > 1:
        lines.append("By channel:")
        for c in s["channels"]:
            lines.append("  %s ch%d  %6d twitches  %s" % (c["device"], c["channel"], c["twitches"],
                                                         _r(c)))
    tr = s["trend"]
    lines.append("")
    if tr["verdict"] == NOT_ENOUGH:
        lines.append("Trend over days: %s (%s)" % (NOT_ENOUGH, tr["reason"]))
    else:
        lines.append("Trend over days: %s, x%.2f per week (%.2f-%.2f), p %s, %d days"
                     % (tr["verdict"], tr["per_week"], tr["low"], tr["high"], p_text(tr["p"]), tr["days"]))
        lines.append("  test: " + tr["test"])
    hod = s["hour_of_day"]
    worn = [h for h in hod["hours"] if h["enough"]]
    if worn:
        lines.append("")
        lines.append("Hour of day (local), twitches per hour of wear (hours with %g h of wear "
                     "or more):" % MIN_HOUR_WEAR)
        top = max(h["rate"] for h in worn) or 1.0
        for h in hod["hours"]:
            if not h["enough"]:
                continue
            bar = "#" * int(round(30 * h["rate"] / top))
            lines.append("  %02d  %6.1f  %-30s %5.1f h" % (h["hour"], h["rate"], bar,
                                                         h["wear_hours"]))
        if "test" in hod:
            lines.append("  the hours differ %s (chi-square %.1f on %d df, p %s)"
                         % ("more than chance alone" if hod["test"]["p"] < 0.05
                            else "no more than chance alone", hod["test"]["chi2"],
                            hod["test"]["df"], p_text(hod["test"]["p"])))
    lines.append("")
    conds = s["conditions"]
    if not conds:
        lines.append("Conditions: none logged yet (`myotwitch note add --caffeine 2 ...`).")
    else:
        lines.append("Conditions (your rate then, against the rest of the time it was logged, "
                     "hour for hour of the day):")
        for c in conds:
            if c["ratio"] is None or c["verdict"] == NOT_ENOUGH:
                fig = NOT_ENOUGH
            else:
                fig = "%s the rest, %s" % (_ratio_text(c), c["verdict"])
            lines.append("  %-32s %s  (%.1f h vs %.1f h, %d days)"
                         % (c["phrase"], fig, c["wear_hours"], c["other_hours"], c["days"]))
        lines.append("  These are comparisons of your own counts, not causes.")
    lines.append("")
    if s["advice"]:
        lines.append("From your own figures:")
        lines += ["  " + a for a in s["advice"]]
    else:
        lines.append("No logged condition goes with a clearly higher rate yet. " + KNOWN_FACTORS)
    if "forecast" in s:
        from myotwitch.forecast import format_forecast

        lines.append("")
        lines.append(format_forecast(s["forecast"]))
    lines.append("")
    lines.append(HEALTH_NOTE)
    return "\n".join(lines)

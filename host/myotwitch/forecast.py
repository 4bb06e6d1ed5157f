"""Tomorrow's expected twitch rate by hour, from the wearer's own history and notes.

The model: a Poisson regression (statsmodels GLM, log link, log hours of wear as offset) of
the twitch count of each quarter hour of wear on the hour of day (two harmonics: a smooth daily
cycle with 4 numbers, not 24) and on the logged conditions (one indicator per factor level,
one for "not logged", one per tag). It is checked before it is shown: fitted on all days but the
last ones, it must predict the held-out days better than a flat rate (the training days' mean)
by more than LL_MARGIN in Poisson log-likelihood. Until it does, the answer is "not enough data
yet", with the check's figures. Calibration on the held-out days (predicted against observed
twitches, in groups of predicted rate) is shown either way.

Tomorrow's conditions: what notes already say about tomorrow, else the wearer's most usual level
over the last 7 days with notes (and said so). This is a forecast of counts, not advice.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings

import numpy as np

from myotwitch import notes as notes_mod
from myotwitch.rates import NOT_ENOUGH, poisson_ci
from myotwitch.wear import Q_MS, WearTable, day_date, local_offsets_ms

LL_MARGIN = 2.0  # held-out log-likelihood the model must gain over the flat rate
MIN_TRAIN_DAYS = 7
HOLDOUT_SHARE = 0.2
MIN_HOLDOUT_DAYS = 3
MIN_LEVEL_HOURS = 3.0  # a factor level or tag needs this much wear to get its own number


def _harmonics(hour_of_day: np.ndarray) -> np.ndarray:
    a = 2 * np.pi * hour_of_day / 24.0
    return np.column_stack([np.sin(a), np.cos(a), np.sin(2 * a), np.cos(2 * a)])


class Design:
    """Columns of the model: harmonics, then factor levels and tags with enough wear."""

    def __init__(self, conds: notes_mod.Conditions, exposure_s: np.ndarray):
        self.columns = ["sin1", "cos1", "sin2", "cos2"]
        self.levels = []  # (factor, label) or ("tag", name), or (factor, None) for "not logged"
        for name, v in conds.values.items():
            f = notes_mod.FACTORS[name]
            labels = _labels(f, v)
            present = [lab for _, lab in f.levels
                       if exposure_s[labels == lab].sum() >= MIN_LEVEL_HOURS * 3600]
            if len(present) < 2:
                continue
            for lab in present[1:]:  # the first level present is the reference
                self.levels.append((name, lab))
            if exposure_s[labels == ""].sum() >= MIN_LEVEL_HOURS * 3600:
                self.levels.append((name, None))
        for tag, on in conds.tags.items():
            if exposure_s[on].sum() >= MIN_LEVEL_HOURS * 3600 and exposure_s[~on].sum() > 0:
                self.levels.append(("tag", tag))
        self.columns += ["%s=%s" % (f, lab if lab is not None else "not logged")
                         for f, lab in self.levels]

    def matrix(self, hour_of_day, conds: notes_mod.Conditions) -> np.ndarray:
        cols = [np.ones(len(hour_of_day)), _harmonics(hour_of_day)]
        for f, lab in self.levels:
            if f == "tag":
                on = conds.tags.get(lab, np.zeros(len(hour_of_day), dtype=bool))
            else:
                v = conds.values.get(f, np.full(len(hour_of_day), np.nan))
                on = _labels(notes_mod.FACTORS[f], v) == (lab if lab is not None else "")
            cols.append(on.astype(float)[:, None])
        return np.column_stack(cols)


def _labels(f, v) -> np.ndarray:
    return np.array([f.level(x) if not math.isnan(x) else "" for x in v], dtype=object)


def _fit(x, y, exposure_h):
    import statsmodels.api as sm

    model = sm.GLM(y, x, family=sm.families.Poisson(), offset=np.log(exposure_h))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = model.fit(scale="X2")
            if np.all(np.isfinite(res.params)) and np.abs(res.params).max() < 20:
                return res.params, res
        except Exception:
            pass
        # a level with no twitches at all pulls its number to -infinity: a little ridge holds it
        alpha = np.full(x.shape[1], 1e-3)
        alpha[0] = 0.0
        res = model.fit_regularized(alpha=alpha, L1_wt=0.0)
        return np.asarray(res.params), None


def _loglik(y, mu) -> float:
    from scipy.special import gammaln

    mu = np.maximum(mu, 1e-12)
    return float((y * np.log(mu) - mu - gammaln(y + 1)).sum())


def forecast(t: WearTable, notes: list, today: dt.date | None = None) -> dict:
    """The forecast dict (see format_forecast); 'verdict' is NOT_ENOUGH until the model beats
    the flat rate on held-out days."""
    days = np.unique(t.day)
    out = {"model": "Poisson GLM: twitches per quarter hour ~ hour of day (2 harmonics) + "
                    "logged conditions, offset log hours of wear",
           "days": int(len(days))}
    n_hold = max(MIN_HOLDOUT_DAYS, int(round(HOLDOUT_SHARE * len(days))))
    if len(days) - n_hold < MIN_TRAIN_DAYS or t.twitches.sum() == 0:
        out.update(verdict=NOT_ENOUGH, reason="needs %d days of wear (%d to fit, %d held out to "
                   "check), has %d" % (MIN_TRAIN_DAYS + MIN_HOLDOUT_DAYS, MIN_TRAIN_DAYS,
                                       MIN_HOLDOUT_DAYS, len(days)))
        return out
    conds = notes_mod.timeline(notes, t.mid_ms)
    hod = (t.hour % 24) + 0.125 + ((t.q * Q_MS + local_offsets_ms(t.q * Q_MS)) % 3_600_000) / 3.6e6
    expo_h = t.exposure_s / 3600.0
    y = t.twitches.astype(float)
    held = t.day >= days[-n_hold]
    train = ~held
    design = Design(notes_mod.Conditions({k: v[train] for k, v in conds.values.items()},
                                         {k: v[train] for k, v in conds.tags.items()}),
                    t.exposure_s[train])
    x = design.matrix(hod, conds)
    params, _ = _fit(x[train], y[train], expo_h[train])
    mu_model = np.exp(x[held] @ params) * expo_h[held]
    flat = y[train].sum() / expo_h[train].sum()
    mu_flat = flat * expo_h[held]
    ll_model, ll_flat = _loglik(y[held], mu_model), _loglik(y[held], mu_flat)
    out["check"] = {
        "held_out_days": n_hold, "train_days": int(len(days) - n_hold),
        "held_out_from": day_date(days[-n_hold]).isoformat(),
        "loglik_model": ll_model, "loglik_flat": ll_flat, "gain": ll_model - ll_flat,
        "margin": LL_MARGIN, "flat_rate": flat,
        "calibration": _calibration(y[held], mu_model, expo_h[held], t.hour[held]),
    }
    out["columns"] = design.columns
    if ll_model - ll_flat <= LL_MARGIN:
        out.update(verdict=NOT_ENOUGH, reason="on the %d held-out days the model predicts no better "
                   "than your flat rate (log-likelihood gain %.1f, needs > %.0f)"
                   % (n_hold, ll_model - ll_flat, LL_MARGIN))
        return out
    # the real thing: all days, then tomorrow
    design = Design(conds, t.exposure_s)
    x = design.matrix(hod, conds)
    params, res = _fit(x, y, expo_h)
    out["columns"] = design.columns
    out["coefficients"] = dict(zip(["const"] + design.columns, map(float, params)))
    today = today or dt.date.today()
    tomorrow = today + dt.timedelta(days=1)
    mids = np.array([_local_ms(tomorrow, h + 0.5) for h in range(24)], dtype=np.int64)
    tom = notes_mod.timeline(notes, mids)
    assumed = {}
    recent = t.day >= max(days[-1] - 6, days[0])
    for name in {f for f, _ in design.levels if f != "tag"}:
        v = tom.values.get(name)
        if v is None or np.isnan(v).all():
            usual = _usual(notes_mod.FACTORS[name], conds.values[name][recent],
                           t.exposure_s[recent])
            tom.values[name] = np.full(24, usual[0])
            assumed[name] = usual[1]
    xt = design.matrix(np.arange(24) + 0.5, tom)
    rate = np.exp(xt @ params)
    worn = np.bincount(t.hour % 24, weights=t.exposure_s, minlength=24) >= 3600
    hours = []
    for h in np.flatnonzero(worn):  # the model says nothing about hours never worn
        row = {"hour": int(h), "rate": float(rate[h])}
        if res is not None:
            se = float(np.sqrt(xt[h] @ res.cov_params() @ xt[h]))
            eta = float(xt[h] @ params)
            row.update(low=math.exp(eta - 1.96 * se), high=math.exp(eta + 1.96 * se))
        hours.append(row)
    out.update(verdict="ok", date=tomorrow.isoformat(), hours=hours, assumed=assumed,
               logged={k: sorted(set(notes_mod.FACTORS[k].level(x) for x in v if not math.isnan(x)))
                       for k, v in tom.values.items() if k not in assumed and not np.isnan(v).all()})
    return out


def _usual(f, values, exposure):
    """(a value, its level) most worn over the given quarters; 'not logged' if none."""
    known = ~np.isnan(values)
    if not known.any():
        return math.nan, "not logged"
    labels = _labels(f, values)
    best = max({lab for lab in labels[known]}, key=lambda lab: exposure[labels == lab].sum())
    value = float(np.median(values[labels == best]))
    return value, best


def _local_ms(day: dt.date, hour: float) -> int:
    t = dt.datetime.combine(day, dt.time()) + dt.timedelta(hours=hour)
    return int(t.astimezone().timestamp() * 1000)


def _calibration(y, mu, expo_h, hour_number, groups=4) -> list[dict]:
    """Held-out hours grouped by predicted rate: predicted and observed twitches per group."""
    uh, inv = np.unique(hour_number, return_inverse=True)
    inv = inv.ravel()
    yh = np.bincount(inv, weights=y)
    mh = np.bincount(inv, weights=mu)
    eh = np.bincount(inv, weights=expo_h)
    pr = np.divide(mh, eh, out=np.zeros_like(mh), where=eh > 0)
    edges = np.quantile(pr, np.linspace(0, 1, groups + 1))
    which = np.clip(np.searchsorted(edges, pr, side="right") - 1, 0, groups - 1)
    out = []
    for g in range(groups):
        sel = which == g
        if not sel.any():
            continue
        k, hrs = float(yh[sel].sum()), float(eh[sel].sum())
        lo, hi = poisson_ci(k, hrs)
        out.append({"predicted_rate": float(mh[sel].sum() / hrs), "observed_rate": k / hrs,
                    "low": lo, "high": hi, "hours": hrs, "predicted": float(mh[sel].sum()),
                    "observed": int(k)})
    return out


def format_forecast(f: dict) -> str:
    lines = ["Forecast (%s):" % f["model"]]
    chk = f.get("check")
    if chk:
        lines.append("  check on the last %d days held out (from %s), fitted on the %d before: "
                     "log-likelihood %.1f against %.1f for your flat rate of %.1f/h (gain %.1f, "
                     "needs > %.0f)" % (chk["held_out_days"], chk["held_out_from"],
                                        chk["train_days"], chk["loglik_model"], chk["loglik_flat"],
                                        chk["flat_rate"], chk["gain"], chk["margin"]))
        lines.append("  calibration on the held-out days (hours grouped by predicted rate):")
        for c in chk["calibration"]:
            lines.append("    predicted %6.1f/h   observed %6.1f/h (%.1f-%.1f)  in %.0f h"
                         % (c["predicted_rate"], c["observed_rate"], c["low"], c["high"],
                            c["hours"]))
    if f["verdict"] != "ok":
        lines.append("  %s: %s." % (NOT_ENOUGH, f["reason"]))
        return "\n".join(lines)
    lines.append("  tomorrow, %s, expected twitches per hour of wear:" % f["date"])
    for h in f["hours"]:
        band = " (%.1f-%.1f)" % (h["low"], h["high"]) if "low" in h else ""
        lines.append("    %02d  %6.1f%s" % (h["hour"], h["rate"], band))
    for name, level in sorted(f["assumed"].items()):
        lines.append("  assumed %s: %s (your most usual over the last 7 days; log it with "
                     "`myotwitch note add`)" % (name, level))
    for name, levels in sorted(f["logged"].items()):
        lines.append("  from your notes for tomorrow, %s: %s" % (name, ", ".join(levels)))
    return "\n".join(lines)

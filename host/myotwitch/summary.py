"""What a recorded session holds, counted and described (never diagnosed)."""

from __future__ import annotations

import datetime as _dt
import json

from myotwitch.formats import hex_id, iso, safe
from myotwitch.protocol import myoproto as mp
from myotwitch.rawfile import sidecar_path

HEALTH_NOTE = ("These are counts, not a diagnosis. Persistent twitching, above all with weakness, "
               "cramps or muscle wasting, is a reason to see a doctor.")


class NoSession(LookupError):
    pass


def session_summary(store, session_id=None) -> dict:
    """A dict describing one session (the latest when session_id is None)."""
    if session_id is None:
        session_id = store.latest_session_id()
        if session_id is None:
            raise NoSession("no sessions recorded yet in %s: run `myotwitch record` first" % store.path)
    s = store.session(session_id)
    if s is None:
        raise NoSession("no session %s in %s (see `myotwitch sessions`)" % (session_id, store.path))

    boots = []
    sample_seconds = 0.0
    for b in store.session_boots(session_id):
        secs = None
        if b["first_index"] is not None and b["last_index"] is not None and b["fs"]:
            secs = (b["last_index"] - b["first_index"]) / b["fs"]
            sample_seconds += secs
        boots.append({"boot_id": b["boot_id"], "fs": b["fs"], "first_index": b["first_index"],
                      "last_index": b["last_index"], "seconds": secs,
                      "synced": b["sync_unix_ms"] is not None})

    host_seconds = (s["ended_at"] - s["started_at"]) if s["ended_at"] else None
    counts = store.event_counts(session_id)
    minutes = (sample_seconds or host_seconds or 0) / 60.0
    rates = {k: (n / minutes if minutes > 0 else None) for k, n in counts.items()}

    dropped, dropped_exact = _session_dropped(store, session_id)
    noise, usual = _session_noise(store, session_id, s["device_id"])
    warnings = []
    if dropped:
        warnings.append("the device dropped %d samples during this session (its processing fell "
                        "behind): events in those stretches may be missing" % dropped)
    for ch, (n, u) in enumerate(zip(noise or [], usual or [])):
        if u and n > NOISE_WARN * u:
            warnings.append("channel %d: noise floor %d, %.0fx this device's usual %d: check the "
                            "electrodes' contact (gel, skin, cable) and mains nearby"
                            % (ch, n, n / u, u))

    raw = None
    rp = store.raw_path(session_id)
    if rp is not None:
        raw = {"path": str(rp), "exists": rp.exists()}
        try:
            meta = json.loads(sidecar_path(rp).read_text())
            raw.update(samples=meta["rows"], channels=meta["channels"],
                       gap_samples=sum(g["count"] for g in meta["gaps"]),
                       segments=len(meta["segments"]), complete=meta["complete"])
        except (OSError, ValueError, KeyError):
            pass

    return {
        "session_id": session_id,
        "board": s["board"], "device": s["device_key"], "fw_version": s["fw_version"],
        "started_at": s["started_at"], "ended_at": s["ended_at"], "end_reason": s["end_reason"],
        "host_seconds": host_seconds, "sample_seconds": sample_seconds,
        "boots": boots,
        "events": counts, "events_total": sum(counts.values()),
        "rate_per_min": rates,
        "marks": len(store.marks(session_id)),
        "status_reports": len(store.status_rows(session_id)),
        "dropped_samples": dropped, "dropped_exact": dropped_exact,
        "noise": noise, "usual_noise": usual,
        "warnings": warnings,
        "link": json.loads(s["link_stats"]) if s["link_stats"] else None,
        "raw": raw,
        "notes": s["notes"],
    }


NOISE_WARN = 3  # a session's noise floor this many times the device's usual gets a warning


def _session_dropped(store, session_id):
    """(samples the device dropped during the session, exact?). Exact from the dropped counts
    at the session's clock syncs (TIME.dropped); for firmware that does not send them, the
    growth between the session's first and last STATUS of each boot (a lower bound)."""
    total, exact = 0, True
    status = {r["boot_id"]: r for r in store.session_status_stats(session_id)}
    for b in store.session_boots(session_id):
        st = status.get(b["boot_id"], {})
        if b["dropped_first"] is not None:
            end = max(b["dropped_last"], st.get("dropped_last") or 0)
            total += end - b["dropped_first"]
        elif st.get("statuses"):
            total += st["dropped_last"] - st["dropped_first"]
            exact = False
    return total, exact


def _median_per_channel(lists):
    import statistics

    width = max((len(x) for x in lists), default=0)
    return [int(statistics.median(x[ch] for x in lists if len(x) > ch)) for ch in range(width)]


def _session_noise(store, session_id, device_id):
    """(median noise floor per channel in the session, the device's usual: the median over its
    earlier sessions, None with fewer than 10 earlier STATUS reports)."""
    lists = [n for r in store.session_status_stats(session_id) for n in r["noise"] if n]
    noise = _median_per_channel(lists) if lists else None
    history = [n for n in store.device_noise_history(device_id, session_id) if n]
    usual = _median_per_channel(history) if len(history) >= 10 else None
    return noise, usual


def summary_json(sm: dict) -> dict:
    """The summary as machine output (README, Machine output): ISO times, hex boot ids."""
    out = dict(sm)
    out["started_at"] = iso(sm["started_at"])
    out["ended_at"] = iso(sm["ended_at"])
    out["boots"] = [dict(b, boot_id=hex_id(b["boot_id"])) for b in sm["boots"]]
    if sm.get("link"):
        out["link"] = dict(sm["link"], boot_ids=[hex_id(b) for b in sm["link"].get("boot_ids", [])])
    return out


def _when(t):
    return _dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t else "?"


def _secs(x):
    if x is None:
        return "?"
    if x >= 3600:
        return "%.0f h %02.0f min" % (x // 3600, (x % 3600) // 60)
    if x >= 120:
        return "%.1f min" % (x / 60)
    return "%.1f s" % x


def format_summary(sm: dict) -> str:
    lines = []
    end = _when(sm["ended_at"]) if sm["ended_at"] else "still open"
    lines.append("Session %d  %s (firmware %s)" % (sm["session_id"], safe(sm["board"]),
                                                  safe(sm["fw_version"] or "?")))
    lines.append("  from %s to %s%s" % (_when(sm["started_at"]), end,
                                          ", ended: %s" % sm["end_reason"] if sm["end_reason"] else ""))
    nb = len(sm["boots"])
    lines.append("  covered %s of device time (%s host time), %d boot%s"
                 % (_secs(sm["sample_seconds"]), _secs(sm["host_seconds"]), nb, "" if nb == 1 else "s"))
    ev = sm["events"]
    lines.append("Events: %d in all: %s" % (sm["events_total"],
                                           ", ".join("%d %s" % (ev[k], k) for k in mp.KIND_NAMES)))
    r = sm["rate_per_min"].get("twitch")
    if r is not None:
        lines.append("  twitches per minute: %.2f" % r)
    lines.append("  button marks: %d" % sm["marks"])
    link = sm["link"]
    if link:
        lines.append("Link: %d frames, %d lost (sequence gaps), %d records lost, %d CRC errors, "
                     "%d bad frames, %d reboot%s seen"
                     % (link["frames"], link["lost_frames"], link["lost_records"], link["crc_errors"],
                        link["bad_frames"] + link.get("overruns", 0), link["reboots"],
                        "" if link["reboots"] == 1 else "s"))
    lines.append("Dropped samples during the session: %d%s" % (
        sm["dropped_samples"], "" if sm["dropped_exact"] else " (at least: the firmware does not "
                                                               "report them at clock syncs)"))
    if sm["noise"]:
        lines.append("Noise floor per channel (median): %s%s" % (
            ", ".join(str(n) for n in sm["noise"]),
            "; this device's usual: %s" % ", ".join(str(n) for n in sm["usual_noise"])
            if sm["usual_noise"] else ""))
    raw = sm["raw"]
    if raw:
        if "samples" in raw:
            lines.append("Raw: %s  %d samples x %d channel%s, %d missing (lost frames, zero-filled and listed)"
                         % (raw["path"], raw["samples"], len(raw["channels"]),
                            "" if len(raw["channels"]) == 1 else "s", raw["gap_samples"]))
        else:
            lines.append("Raw: %s (missing)" % raw["path"])
    if sm["notes"]:
        lines.append("Notes: %s" % safe(sm["notes"]))
    for w in sm["warnings"]:
        lines.append("Warning: " + w)
    lines.append(HEALTH_NOTE)
    return "\n".join(lines)

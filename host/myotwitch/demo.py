"""`myotwitch demo`: the whole chain without hardware.

A virtual board (the real firmware in the MicroPython unix port) replays the
bundled EMG recording faster than real time; the host records a session with
raw samples over the pty exactly as from a USB port, then prints the summary
and checks the raw samples against the recording.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from myotwitch.link import Device
from myotwitch.protocol import myoproto as mp
from myotwitch.record import record_session
from myotwitch.store import open_store
from myotwitch.summary import format_summary, session_summary
from myotwitch.verify import format_verification, verify_session

DEFAULT_SPEED = 10.0
DEMO_RECORDING = "rest_with_twitches"  # real rest EMG with injected twitches whose times are known
MAX_SECONDS = 110.0  # host seconds: the demo stays under two minutes whatever the recording


def _watch(board, stop):
    # With once=True the board ends after the recording; end the session then.
    while not stop.is_set():
        if not board.alive:
            stop.set()
            return
        time.sleep(0.1)


def stop_when_board_ends(board) -> threading.Event:
    """An event that is set when the virtual board stops (a --once board at the recording's end),
    for `record_session(stop=...)`."""
    stop = threading.Event()
    threading.Thread(target=_watch, args=(board, stop), daemon=True).start()
    return stop


def check_raw_against_recording(store, session_id, recording=None):
    """(matching samples, compared samples) between the raw file and the recording, or None
    when the recording cannot be loaded."""
    try:
        from myotwitch import recordings
        from myotwitch.rawfile import load_raw
    except ImportError:
        return None
    path = store.raw_path(session_id)
    if path is None or not path.exists():
        return None
    raw = load_raw(path)
    try:
        rec = recordings.load(recording) if recording else recordings.load_default()
    except Exception:
        return None
    data = rec.samples if hasattr(rec, "samples") else rec
    import numpy as np

    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, None]
    same = total = 0
    for seg in raw.segments:
        mask = raw.valid_mask(raw.segments.index(seg))
        lo, hi = seg.first_index, seg.first_index + seg.rows
        hi = min(hi, len(data))
        if hi <= lo:
            continue
        got = seg.data[:hi - lo]
        exp = data[lo:hi, :got.shape[1]]
        m = mask[:hi - lo, :exp.shape[1]]
        total += int(m.sum())
        same += int(((got[:, :exp.shape[1]] == exp) & m).sum())
    return same, total


def demo_store_path() -> Path:
    """Where the demo keeps its sessions: a store of its own, apart from real recordings."""
    from myotwitch.store import user_data_dir

    return user_data_dir() / "demo" / "myotwitch.db"


def run_demo(speed: float = DEFAULT_SPEED, db=None, echo=print, recording=None,
             max_seconds: float = MAX_SECONDS) -> dict:
    """Run the demo; returns the session summary dict (with raw_check, verify, twitches)."""
    from myotwitch.sim import SimBoard

    db = Path(db) if db else demo_store_path()
    echo("starting a virtual board (%s, %gx speed)..." % (recording or DEMO_RECORDING, speed))
    # hold: the board plays from sample 0 once the raw stream starts, so every run of the demo
    # detects the same events (the detectors restart at stream start, and their noise-floor
    # blocks count from there).
    board_kw = {"speed": speed, "once": True, "hold": True,
                "recording": recording or DEMO_RECORDING}
    with SimBoard(**board_kw) as board:
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(board, stop), daemon=True)
        with Device.open(board.port) as dev, open_store(db) as store:
            hello = dev.hello()
            echo("connected to %s on %s: firmware %s, %d Hz, %d channel(s)"
                 % (hello.board, board.port, hello.fw_version, hello.fs, hello.channels))
            echo("recording with raw samples until the recording ends...")
            watcher.start()
            t0 = time.monotonic()
            result = record_session(dev, store, duration=max_seconds, raw=True, stop=stop,
                                    notes="myotwitch demo")
            stop.set()
            echo("session %d: %d events in %.1f s (%s)"
                 % (result.session_id, result.events, time.monotonic() - t0, result.end_reason))
            sm = session_summary(store, result.session_id)
            echo("")
            echo(format_summary(sm))
            check = check_raw_against_recording(store, result.session_id,
                                                recording or DEMO_RECORDING)
            if check is not None:
                same, total = check
                echo("Raw check: %d of %d stored samples equal the recording%s"
                     % (same, total, "" if same == total else "  (MISMATCH)"))
                sm["raw_check"] = {"equal": same, "compared": total}
            # The host's NumPy twin re-runs the detector on the raw samples: the device's
            # events must come out bit for bit (`myotwitch verify` shows the table).
            v = verify_session(store, result.session_id)
            echo("Verify: " + format_verification(v)[-1])
            sm["verify"] = {"agree": v.agree, "matched": v.count("matched"),
                            "problems": v.problems}
            known = known_twitches(recording or board.recording.name)
            if known is not None:
                found = twitch_check(known, store.events(result.session_id), hello.fs)
                sm["twitch_check"] = found
                echo("Twitches: found %d of the %d known to be in the recording (onset within "
                     "%d ms); %d other twitch or burst claim(s)"
                     % (found["found"], found["known"], TOLERANCE_MS, found["other"]))
            echo("Kept in %s: `myotwitch --db %s sessions` lists it" % (store.path, store.path))
            return sm


TOLERANCE_MS = 25  # a claim within this of a known twitch's onset found it (as bench/ scores)


def known_twitches(name):
    """Onsets (sample index) of the twitches known to be in a bundled recording (its
    annotations label them 'twitch'), or None when it has no such annotations."""
    import csv

    from myotwitch.recordings import bundled_dir

    path = bundled_dir() / str(name) / "annotations.csv"
    if not path.exists():
        return None
    with open(path, newline="") as f:
        onsets = [int(r["onset_sample"]) for r in csv.DictReader(f) if r["label"] == "twitch"]
    return onsets or None


def twitch_check(known, events, fs) -> dict:
    """Known twitches found by the device's twitch or burst events (nearest claim first, one
    claim per twitch) and the claims left over."""
    tol = TOLERANCE_MS * fs // 1000
    claims = sorted(e["onset"] for e in events if e["kind"] in (mp.KIND_TWITCH, mp.KIND_BURST))
    used = set()
    found = 0
    for t in sorted(known):
        near = [i for i, c in enumerate(claims) if abs(c - t) <= tol and i not in used]
        if near:
            used.add(min(near, key=lambda i: abs(claims[i] - t)))
            found += 1
    return {"known": len(known), "found": found, "other": len(claims) - len(used),
            "tolerance_ms": TOLERANCE_MS}


def demo_json(sm: dict) -> dict:
    from myotwitch.summary import summary_json

    return dict(summary_json(sm), raw_check=sm.get("raw_check"), verify=sm.get("verify"),
                twitch_check=sm.get("twitch_check"))

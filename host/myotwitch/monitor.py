"""`myotwitch monitor`: a live view of what the device reports (stores nothing).

`MonitorState` folds messages into numbers; `render` draws them with rich;
`run_monitor` drives either a rich Live view (terminal) or one plain line per
message (pipes, logs, tests).
"""

from __future__ import annotations

import time
from collections import deque

from myotwitch.formats import safe
from myotwitch.link import HelloInfo
from myotwitch.protocol import myoproto as mp

RATE_WINDOW_S = 60.0


class MonitorState:
    def __init__(self, hello: HelloInfo, recent: int = 10):
        self.hello = hello
        self.fs = hello.fs or 1000
        self.recent = deque(maxlen=recent)
        self.counts = {k: 0 for k in mp.KIND_NAMES}
        self.marks = 0
        self.noise = []
        self.dropped = 0
        self.status = None
        self.first_index = None
        self.last_index = None
        self.twitch_at = deque()  # sample indices of recent twitches (current boot)
        self.reboots = 0

    def _seen(self, idx):
        if self.first_index is None:
            self.first_index = idx
        if self.last_index is None or idx > self.last_index:
            self.last_index = idx

    def update(self, msg) -> None:
        t = msg.type
        if t == mp.EVENT:
            f = msg.fields
            self.recent.appendleft((msg.seq, f))
            name = mp.KIND_NAMES[f["kind"]]
            self.counts[name] += 1
            self._seen(f["onset"])
            if f["kind"] == mp.KIND_TWITCH:
                self.twitch_at.append(f["onset"])
        elif t == mp.STATUS:
            self.status = msg.fields
            self.noise = list(msg["noise"])
            self.dropped = msg["dropped"]
            self._seen(msg["sample_index"])
        elif t == mp.MARK:
            self.marks += 1
            self._seen(msg["sample_index"])
        elif t == mp.SAMPLES:
            self._seen(msg["first_index"] + len(msg["samples"]))
        elif t == mp.HELLO:
            self.reboots += 1
            self.hello = HelloInfo.from_message(msg)
            self.fs = self.hello.fs or self.fs
            self.first_index = self.last_index = None
            self.twitch_at.clear()

    @property
    def elapsed_s(self) -> float:
        if self.first_index is None or self.last_index is None:
            return 0.0
        return (self.last_index - self.first_index) / self.fs

    def twitches_per_min(self):
        """Twitches in the last minute of device time (or since start, if shorter)."""
        if self.last_index is None:
            return None
        horizon = self.last_index - int(RATE_WINDOW_S * self.fs)
        while self.twitch_at and self.twitch_at[0] < horizon:
            self.twitch_at.popleft()
        window = min(RATE_WINDOW_S, self.elapsed_s)
        if window < 1.0:
            return None
        return len(self.twitch_at) * 60.0 / window


def describe_event(seq, f, fs) -> str:
    return ("#%d %-11s ch%d at %.3f s  %.1f ms  peak %d  area %d"
            % (seq, mp.KIND_NAMES[f["kind"]], f["channel"], f["onset"] / fs,
               f["duration"] * 1000.0 / fs, f["peak"], f["area"]))


def text_line(state: MonitorState, msg):
    """One plain-text line for a message, or None for messages not worth a line."""
    t = msg.type
    if t == mp.EVENT:
        return "event  " + describe_event(msg.seq, msg.fields, state.fs)
    if t == mp.STATUS:
        rate = state.twitches_per_min()
        return ("status uptime %d s  noise %s  dropped %d  twitches/min %s"
                % (msg["uptime_s"], "/".join(str(n) for n in msg["noise"]) or "-", msg["dropped"],
                   "-" if rate is None else "%.1f" % rate))
    if t == mp.MARK:
        return "mark   at %.3f s (%s)" % (msg["sample_index"] / state.fs,
                                          "button" if msg["source"] == mp.MARK_BUTTON else "host")
    if t == mp.HELLO:
        return "device restarted: boot %08x" % msg["boot_id"]
    return None


def message_json(msg, state: MonitorState) -> dict:
    """One message as machine output (README, Machine output): its fields, ids in hex,
    sample indices also in device seconds, EVENT kinds by name."""
    out = {"type": msg.name, "seq": msg.seq}
    for k, v in msg.fields.items():
        if isinstance(v, (bytes, bytearray)):
            v = bytes(v).hex()
        elif k in ("boot_id", "config_hash"):
            v = "%08x" % v
        out[k] = v
    fs = state.fs
    if msg.type == mp.EVENT:
        out.pop("dkc", None)
        out["kind"] = mp.KIND_NAMES[msg["kind"]]
        out["onset_s"] = round(msg["onset"] / fs, 3)
        out["duration_ms"] = round(msg["duration"] * 1000.0 / fs, 1)
    elif msg.type in (mp.STATUS, mp.MARK):
        out["at_s"] = round(msg["sample_index"] / fs, 3)
        if msg.type == mp.STATUS:
            out["twitches_per_min"] = state.twitches_per_min()
    elif msg.type == mp.SAMPLES:
        out.pop("samples", None)  # the numbers are for `record --raw`, not a log line
        out["count"] = len(msg["samples"])
    return out


def render(state: MonitorState, stats):
    """The live view, 80 columns wide: the device clock (the same seconds as the events'
    "at"), rates and counts as label/value pairs, then the recent events."""
    from rich.console import Group
    from rich.table import Table

    h = state.hello
    clock = "-" if state.last_index is None else "%.0f s" % (state.last_index / state.fs)
    head = Table.grid(padding=(0, 2))
    head.add_row("[bold]%s[/] fw %s" % (_safe(h.board), _safe(h.fw_version)),
                 "boot %08x" % h.boot_id, "%d Hz, %d ch" % (h.fs, h.channels),
                 "device clock %s (watched %.0f s)" % (clock, state.elapsed_s))

    rate = state.twitches_per_min()
    nums = Table.grid(padding=(0, 1))
    for _ in range(3):
        nums.add_column(justify="left")
        nums.add_column(justify="right", min_width=8)
    c = state.counts
    nums.add_row("twitches/min", "-" if rate is None else "%.1f" % rate,
                 "noise floor", " / ".join(str(n) for n in state.noise) or "-",
                 "dropped samples", str(state.dropped))
    nums.add_row("twitch", str(c["twitch"]), "burst", str(c["burst"]),
                 "contraction", str(c["contraction"]))
    nums.add_row("artifact", str(c["artifact"]), "marks", str(state.marks), "", "")
    nums.add_row("frames", str(stats.frames), "lost (seq gaps)", str(stats.lost_frames),
                 "records lost", str(stats.lost_records))
    nums.add_row("CRC errors", str(stats.crc_errors), "bad frames",
                 str(stats.bad_frames + stats.overruns), "reboots", str(stats.reboots))

    ev = Table(title="recent events", title_justify="left", show_header=True, header_style="bold",
               box=None, padding=(0, 2))
    for col in ("seq", "kind", "ch", "at (s)", "ms", "peak", "area"):
        ev.add_column(col, justify="right" if col not in ("kind",) else "left")
    for seq, f in state.recent:
        ev.add_row(str(seq), mp.KIND_NAMES[f["kind"]], str(f["channel"]), "%.3f" % (f["onset"] / state.fs),
                   "%.1f" % (f["duration"] * 1000.0 / state.fs), str(f["peak"]), str(f["area"]))
    return Group(head, "", nums, "", ev)


def _safe(text):
    from rich.markup import escape

    return escape(safe(text))


def run_monitor(device, duration=None, live=None, echo=print, console=None,
                on_message=None) -> MonitorState:
    """Show messages until `duration` seconds pass, Ctrl-C, or the device goes away.

    live: True for the rich Live view, False for plain lines, None to choose by
    whether the output is a terminal. on_message(msg, state): called for every message
    instead of printing lines (machine output).
    """
    hello = device.info or device.hello()
    state = MonitorState(hello)
    deadline = None if duration is None else time.monotonic() + duration
    if on_message is not None:
        try:
            _loop(device, state, deadline, lambda msg: on_message(msg, state))
        except KeyboardInterrupt:
            pass
        return state
    if live is None:
        from rich.console import Console

        console = console or Console()
        live = console.is_terminal
    try:
        if live:
            from rich.live import Live

            with Live(render(state, device.stats), console=console, refresh_per_second=4,
                      transient=False) as view:
                def redraw(msg=None):
                    view.update(render(state, device.stats))

                _loop(device, state, deadline, redraw, redraw)
        else:
            echo("monitoring %s on %s (Ctrl-C to stop)" % (safe(hello.board), device.port))

            def line(msg):
                text = text_line(state, msg)
                if text:
                    echo(text)

            _loop(device, state, deadline, line)
            s = device.stats
            echo("link: %d frames, %d lost (seq gaps), %d records lost, %d CRC errors, %d bad frames"
                 % (s.frames, s.lost_frames, s.lost_records, s.crc_errors, s.bad_frames + s.overruns))
    except KeyboardInterrupt:
        pass
    return state


def _loop(device, state, deadline, on_message, on_idle=None):
    while True:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return
        wait = 0.25 if deadline is None else max(0.0, min(0.25, deadline - now))
        msg = device.recv(wait)  # LinkLost propagates: the caller reports it
        if msg is None:
            if on_idle is not None:
                on_idle()
            continue
        state.update(msg)
        on_message(msg)

"""The host side of the serial link: frames in and out, requests matched to
responses, unsolicited messages delivered in order, and link statistics.

    with Device.open("/dev/ttyUSB0") as dev:
        print(dev.hello().fw_version)
        for msg in dev.link.messages(timeout=1.0):   # EVENT, STATUS, MARK, SAMPLES, HELLO
            ...

A background thread reads the port and feeds a `myoproto.StreamDecoder`.
Responses (they carry `ref` = the request's seq) go to the waiting request;
everything else goes to a queue (and to `on_message`, if given). Loss is
counted from sequence numbers: the device frame counter for every frame but
EVENT and MARK, and the persistent record sequence for EVENT and MARK.
"""

from __future__ import annotations

import errno
import queue
import random
import threading
import time
from dataclasses import asdict, dataclass, field

import serial

from myotwitch.formats import safe
from myotwitch.protocol import myoproto as mp

BAUDRATE = 115200
DEFAULT_TIMEOUT = 2.0

RESPONSE_TYPES = frozenset((mp.HELLO, mp.PONG, mp.ACK, mp.NACK, mp.CONFIG_VALUE, mp.TIME,
                            mp.LOG_CHUNK))
RECORD_TYPES = frozenset((mp.EVENT, mp.MARK))
_HALF = 1 << 31

CABLE_HINT = ("check the USB cable (a data cable, not charge-only), that --port names the board "
              "and that it runs the myotwitch firmware")


class LinkError(Exception):
    """Base class of everything the link raises."""


class LinkTimeout(LinkError):
    """The device did not answer in time."""


class LinkLost(LinkError):
    """The port went away (cable unplugged, board reset into the bootloader, sim ended) or was closed."""


class DeviceError(LinkError):
    """The device answered NACK."""

    def __init__(self, request_type, code, reason=""):
        self.request_type = request_type
        self.code = code
        self.code_name = mp.ERROR_NAMES.get(code, "error %d" % code)
        self.reason = reason
        name = mp.SCHEMA.get(request_type, ("0x%02X" % request_type,))[0]
        msg = "device refused %s: %s (code %d)" % (name, self.code_name, code)
        if reason:
            msg += ": " + safe(reason)  # the device's words: shown, never obeyed by a terminal
        super().__init__(msg)


# ---------------------------------------------------------------- statistics


@dataclass
class LinkStats:
    """Counters of one link. `lost_frames` and `lost_records` come from sequence gaps."""

    frames: int = 0
    bytes: int = 0
    crc_errors: int = 0
    bad_frames: int = 0
    overruns: int = 0
    garbage_bytes: int = 0
    lost_frames: int = 0
    lost_records: int = 0
    record_gaps: int = 0
    reboots: int = 0
    seq_resets: int = 0
    stray_responses: int = 0
    boot_ids: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def errors(self) -> int:
        return self.crc_errors + self.bad_frames + self.overruns


class SeqTracker:
    """Counts lost frames and records from sequence numbers, frame by frame.

    Frame counter (all frames but EVENT/MARK): a jump forward by d counts d-1
    lost frames; a jump backwards without a new HELLO is a counter reset (a
    reboot whose HELLO was lost) and is counted in `seq_resets`, not as loss.
    A HELLO with a new boot_id resets the frame-counter expectation.

    Record seq (EVENT/MARK) is persistent across boots, but STATUS and TIME
    records share that counter without carrying it on the wire (SPEC section 7).
    So a jump of d between two EVENT/MARK frames is `record_gaps` += d, and only
    what STATUS/TIME frames seen (or frames lost) in between cannot explain
    counts as `lost_records`: records not seen live, which LOG_READ recovers.
    Backward jumps (replays) are ignored.
    """

    def __init__(self):
        self.next_frame = None
        self.next_record = None
        self.boot_id = None
        self.boot_ids = []
        self.lost_frames = 0
        self.lost_records = 0
        self.record_gaps = 0
        self.reboots = 0
        self.seq_resets = 0
        self._other_records = 0  # STATUS/TIME frames (and lost frames) since the last EVENT/MARK

    def observe(self, msg) -> None:
        seq = msg.seq
        if msg.type in RECORD_TYPES:
            if self.next_record is not None:
                d = (seq - self.next_record) & mp.SEQ_MASK
                if d >= _HALF:  # replay of an older record: not a loss, keep expectation
                    return
                self.record_gaps += d
                self.lost_records += max(0, d - self._other_records)
            self._other_records = 0
            self.next_record = (seq + 1) & mp.SEQ_MASK
            return
        if msg.type in (mp.STATUS, mp.TIME):
            self._other_records += 1
        if msg.type == mp.HELLO:
            boot = msg.fields.get("boot_id")
            if boot != self.boot_id:
                if self.boot_id is not None:
                    self.reboots += 1
                self.boot_id = boot
                self.boot_ids.append(boot)
                self.next_frame = None
        if self.next_frame is not None:
            d = (seq - self.next_frame) & mp.SEQ_MASK
            if d >= _HALF:
                self.seq_resets += 1
            else:
                self.lost_frames += d
                self._other_records += d  # a lost frame may have been a STATUS
        self.next_frame = (seq + 1) & mp.SEQ_MASK


# ---------------------------------------------------------------- the link


class _Pending:
    def __init__(self, req_type):
        self.req_type = req_type
        self.msgs = []
        self.done = threading.Event()
        self.activity = time.monotonic()

    def complete(self):
        if not self.msgs:
            return False
        return self.req_type != mp.CONFIG_GET or self.msgs[-1].type in (mp.ACK, mp.NACK)

    def add(self, msg):
        self.msgs.append(msg)
        self.activity = time.monotonic()
        if self.req_type != mp.CONFIG_GET or msg.type in (mp.ACK, mp.NACK):
            self.done.set()


class ResponseStream:
    """The responses to one request sent with `Link.open_stream`, in arrival order."""

    def __init__(self, link, ref, req_type):
        self.link = link
        self.ref = ref
        self.req_type = req_type
        self.done = threading.Event()  # (Link wakes pending requests through it on failure)
        self.activity = time.monotonic()
        self._q: queue.Queue = queue.Queue()

    def add(self, msg):
        self.activity = time.monotonic()
        self._q.put(msg)

    def complete(self):
        return False

    def next(self, timeout: float):
        """The next response, or None after `timeout` seconds without one. Raises the link's
        error (LinkLost) once the port is gone."""
        while True:
            if self.link.error is not None:
                raise self.link.error
            try:
                return self._q.get(timeout=0.1)
            except queue.Empty:
                if time.monotonic() - self.activity > timeout:
                    return None

    def close(self):
        with self.link._lock:
            self.link._pending.pop(self.ref, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_EOF = object()


def open_serial(path: str, baudrate: int = BAUDRATE) -> serial.Serial:
    """Open a serial port without resetting an ESP32 (DTR/RTS stay released)."""
    s = serial.Serial()
    s.port = path
    s.baudrate = baudrate
    s.timeout = 0.05
    s.write_timeout = 2.0
    s.exclusive = True
    s.dtr = False
    s.rts = False
    try:
        s.open()
    except (serial.SerialException, OSError) as e:
        err = getattr(e, "errno", None)
        text = str(e)
        if err == errno.ENOENT or "No such file" in text:
            hint = "the port does not exist: is the board plugged in? (myotwitch info without --port auto-detects)"
        elif err == errno.EACCES or "Permission denied" in text:
            hint = ("permission denied: on Linux add yourself to the 'dialout' (or 'uucp') group "
                    "and log in again")
        elif err in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "lock" in text.lower():
            hint = ("the port is in use by another program (a serial monitor, mpremote, another "
                    "myotwitch?): close it and retry")
        else:
            hint = CABLE_HINT
        raise LinkLost("cannot open %s: %s" % (path, hint)) from e
    return s


class Link:
    """Frames over a pyserial port (any object with read/write/in_waiting/close)."""

    def __init__(self, serial_port, on_message=None, name=None):
        self.serial = serial_port
        self.port = name or getattr(serial_port, "port", None) or "the serial port"
        self.on_message = on_message
        self.decoder = mp.StreamDecoder()
        self.tracker = SeqTracker()
        self._bytes = 0
        self._stray = 0
        self._baseline = None  # decoder error counters at the first good frame
        self._seq = random.randrange(1, 0x10000)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._queue: queue.Queue = queue.Queue()
        self._closing = False
        self.error: LinkError | None = None
        self._thread = threading.Thread(target=self._reader, name="myotwitch-link", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, path: str, baudrate: int = BAUDRATE, **kw) -> "Link":
        s = open_serial(path, baudrate)
        try:
            s.reset_input_buffer()  # stale bytes from before we opened: not this session's
        except (serial.SerialException, OSError):
            pass
        return cls(s, name=path, **kw)

    # ---- reading

    def _reader(self):
        while not self._closing:
            try:
                n = self.serial.in_waiting
                data = self.serial.read(n if n > 0 else 1)
            except Exception as e:  # SerialException, OSError, or a port closed under us
                if not self._closing:
                    self._fail(LinkLost("lost the connection to %s (%s): %s. Everything received "
                                        "so far is kept." % (self.port, e, CABLE_HINT)))
                return
            if not data:
                continue
            self._bytes += len(data)
            if self._baseline is None:
                self._feed_until_synced(bytes(data))
            else:
                for msg in self.decoder.feed(data):
                    self._dispatch(msg)

    def _feed_until_synced(self, data):
        # Before the first good frame, decoding errors are the tail of a frame that
        # was on the wire before we opened the port: not link errors.
        start = 0
        while start < len(data):
            end = data.find(b"\x00", start)
            end = len(data) if end < 0 else end + 1
            piece = data[start:end]
            start = end
            if self._baseline is None:
                d = self.decoder
                before = (d.crc_errors, d.bad_frames, d.overruns, d.garbage_bytes)
                msgs = d.feed(piece)
                if msgs:
                    self._baseline = before
            else:
                msgs = self.decoder.feed(piece)
            for msg in msgs:
                self._dispatch(msg)

    def _dispatch(self, msg):
        self.tracker.observe(msg)
        if msg.type in RESPONSE_TYPES:
            ref = msg.fields.get("ref")
            if ref is not None and ref != mp.UNSOLICITED:
                with self._lock:
                    p = self._pending.get(ref)
                if p is not None:
                    p.add(msg)
                else:
                    self._stray += 1  # a response that came after its request timed out
                return
        self._queue.put(msg)
        if self.on_message is not None:
            try:
                self.on_message(msg)
            except Exception:  # a broken callback must not kill the link
                pass

    def _fail(self, err):
        self.error = err
        with self._lock:
            pending = list(self._pending.values())
        for p in pending:
            p.done.set()
        self._queue.put(_EOF)

    # ---- writing

    def _next_seq(self):
        with self._lock:
            seq = self._seq
            self._seq = (self._seq + 1) & mp.SEQ_MASK
            if self._seq == mp.UNSOLICITED:
                self._seq = 0
            return seq

    def _write(self, frame):
        if self.error is not None:
            raise self.error
        if self._closing:
            raise LinkLost("the link to %s is closed" % self.port)
        try:
            with self._write_lock:
                self.serial.write(frame)
                self.serial.flush()
        except serial.SerialTimeoutException as e:
            raise LinkTimeout("could not write to %s for 2 s: %s" % (self.port, CABLE_HINT)) from e
        except Exception as e:
            err = LinkLost("lost the connection to %s while sending (%s): %s" % (self.port, e, CABLE_HINT))
            raise err from e

    def encode(self, msg_type: int, seq: int, fields: dict | None) -> bytes:
        """The wire frame of a request. A port with a `seal` (the BLE link once the owner's
        handshake is done, SPEC section 13) closes every payload with its MAC."""
        seal = getattr(self.serial, "seal", None)
        if seal is None:
            return mp.encode(msg_type, seq, fields or {})
        payload = mp.encode_payload(msg_type, fields or {})
        return mp.encode_frame(msg_type, seq, payload + seal(msg_type, seq, payload))

    def send(self, msg_type: int, fields: dict | None = None) -> int:
        """Send one message; return the seq it carries."""
        seq = self._next_seq()
        self._write(self.encode(msg_type, seq, fields))
        return seq

    def request(self, msg_type: int, fields: dict | None = None, timeout: float = DEFAULT_TIMEOUT,
                retries: int | None = None):
        """Send a request and wait for its response.

        Returns the response Message; for CONFIG_GET, the list of CONFIG_VALUE
        messages that came before the closing ACK. Raises DeviceError on NACK,
        LinkTimeout if the device stays silent for `timeout` seconds (after
        `retries` more tries with a new seq: 1 by default, 0 for a host MARK,
        the one request that is not idempotent), LinkLost if the port goes away.
        """
        if retries is None:
            retries = 0 if msg_type == mp.MARK else 1
        for attempt in range(retries + 1):
            try:
                return self._request_once(msg_type, fields, timeout)
            except LinkTimeout:
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")

    def _request_once(self, msg_type, fields, timeout):
        frame_fields = fields or {}
        seq = self._next_seq()
        frame = self.encode(msg_type, seq, frame_fields)
        p = _Pending(msg_type)
        with self._lock:
            self._pending[seq] = p
        try:
            self._write(frame)
            while not p.done.wait(0.05):
                if self.error is not None:
                    break
                if time.monotonic() - p.activity > timeout:
                    break
        finally:
            with self._lock:
                self._pending.pop(seq, None)
        name = mp.SCHEMA[msg_type][0]
        if not p.complete():
            if self.error is not None:
                raise self.error
            raise LinkTimeout("no answer from the device on %s to %s within %.1f s: %s"
                              % (self.port, name, timeout, CABLE_HINT))
        last = p.msgs[-1]
        if last.type == mp.NACK:
            raise DeviceError(msg_type, last["code"], last.get("reason", ""))
        if msg_type == mp.CONFIG_GET:
            return [m for m in p.msgs if m.type == mp.CONFIG_VALUE]
        return last

    # ---- requests answered by a stream of responses (LOG_READ -> LOG_CHUNK...)

    def open_stream(self, msg_type: int, fields: dict | None = None) -> "ResponseStream":
        """Send a request whose answer is any number of responses (each with `ref` = its seq),
        and return a ResponseStream to read them from. Close it (or use `with`) when done:
        responses that arrive after that are counted as stray, not delivered."""
        seq = self._next_seq()
        stream = ResponseStream(self, seq, msg_type)
        with self._lock:
            self._pending[seq] = stream
        try:
            self._write(self.encode(msg_type, seq, fields))
        except BaseException:
            stream.close()
            raise
        return stream

    def health(self) -> tuple:
        """A snapshot of everything that shows a frame was lost, corrupted, repeated or
        reordered (frame-counter gaps and resets, reboots, CRC errors, bad frames, overruns):
        if two snapshots are equal, every frame between them arrived intact and in order."""
        d = self.decoder
        t = self.tracker
        return (t.lost_frames, t.seq_resets, t.reboots, d.crc_errors, d.bad_frames, d.overruns)

    @property
    def bytes_received(self) -> int:
        return self._bytes

    # ---- unsolicited messages

    def recv(self, timeout: float | None = None):
        """Next unsolicited message (EVENT, STATUS, MARK, SAMPLES, HELLO at boot...).

        Returns None after `timeout` seconds without one; raises LinkLost once
        the port is gone and everything received before has been delivered.
        """
        try:
            msg = self._queue.get(timeout=timeout) if timeout != 0 else self._queue.get_nowait()
        except queue.Empty:
            return None
        if msg is _EOF:
            self._queue.put(_EOF)  # stay failed for later callers
            raise self.error or LinkLost("the link to %s is closed" % self.port)
        return msg

    def messages(self, timeout: float | None = None):
        """Iterate over unsolicited messages until `timeout` passes without one."""
        while True:
            msg = self.recv(timeout)
            if msg is None:
                return
            yield msg

    def pending_messages(self) -> int:
        return self._queue.qsize()

    # ---- stats and lifetime

    @property
    def stats(self) -> LinkStats:
        d = self.decoder
        base = self._baseline or (d.crc_errors, d.bad_frames, d.overruns, d.garbage_bytes)
        t = self.tracker
        return LinkStats(
            frames=d.frames, bytes=self._bytes,
            crc_errors=d.crc_errors - base[0], bad_frames=d.bad_frames - base[1],
            overruns=d.overruns - base[2], garbage_bytes=d.garbage_bytes - base[3],
            lost_frames=t.lost_frames, lost_records=t.lost_records, record_gaps=t.record_gaps,
            reboots=t.reboots,
            seq_resets=t.seq_resets, stray_responses=self._stray, boot_ids=list(t.boot_ids))

    @property
    def alive(self) -> bool:
        return self.error is None and not self._closing

    def close(self):
        if self._closing:
            return
        self._closing = True
        self._thread.join(timeout=1.0)
        try:
            self.serial.close()
        except Exception:
            pass
        with self._lock:
            pending = list(self._pending.values())
        for p in pending:
            p.done.set()
        if self.error is None:
            self.error = LinkLost("the link to %s is closed" % self.port)
        self._queue.put(_EOF)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- device


@dataclass
class HelloInfo:
    """What a HELLO says about the device, in readable form."""

    fw_version: str
    build_hash: str  # hex
    proto: int
    board: str
    channels: int
    fs: int
    config_hash: int
    boot_id: int
    device_id: str | None = None  # None from firmware older than the field (SPEC section 5)

    @classmethod
    def from_message(cls, msg) -> "HelloInfo":
        f = msg.fields
        return cls(fw_version=f["fw_version"], build_hash=bytes(f["build_hash"]).hex(),
                   proto=f["proto"], board=f["board"], channels=f["channels"], fs=f["fs"],
                   config_hash=f["config_hash"], boot_id=f["boot_id"],
                   device_id=f.get("device_id"))

    def as_dict(self) -> dict:
        return asdict(self)

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("firmware", self.fw_version),
            ("build hash", self.build_hash),
            ("protocol", str(self.proto)),
            ("board", self.board),
            ("channels", str(self.channels)),
            ("sample rate", "%d Hz" % self.fs),
            ("config hash", "%08x" % self.config_hash),
            ("boot id", "%08x" % self.boot_id),
            ("device id", self.device_id or "- (firmware too old to say)"),
        ]


class Device:
    """Typed requests over a Link."""

    def __init__(self, link: Link):
        self.link = link
        self.info: HelloInfo | None = None

    @classmethod
    def open(cls, path: str, **kw) -> "Device":
        return cls(Link.open(path, **kw))

    @property
    def port(self):
        return self.link.port

    @property
    def stats(self) -> LinkStats:
        return self.link.stats

    def _expect(self, msg, msg_type):
        if msg.type != msg_type:
            raise LinkError("device answered %s where %s was expected" % (msg.name, mp.SCHEMA[msg_type][0]))
        return msg

    def hello(self, timeout=DEFAULT_TIMEOUT) -> HelloInfo:
        msg = self._expect(self.link.request(mp.HELLO_REQ, {}, timeout), mp.HELLO)
        if msg["proto"] != mp.VERSION:
            raise LinkError("device speaks protocol %d, this host speaks %d: update the %s"
                            % (msg["proto"], mp.VERSION,
                               "firmware" if msg["proto"] < mp.VERSION else "myotwitch host tools"))
        self.info = HelloInfo.from_message(msg)
        return self.info

    def identify(self, timeout=DEFAULT_TIMEOUT) -> str | None:
        """The device's stable id (SPEC section 5), as the device reports it: HELLO's
        device_id, else its CONFIG device_id (firmware older than the HELLO field); None if it
        has neither (the host then cannot tell it from other boards of its kind)."""
        hello = self.info or self.hello(timeout)
        if hello.device_id:
            return hello.device_id
        try:
            value = self.config_get("device_id", timeout).get("device_id")
        except DeviceError:  # E_UNKNOWN_KEY: a firmware without the key
            return None
        return value if isinstance(value, str) and value else None

    def ping(self, nonce=None, timeout=DEFAULT_TIMEOUT) -> float:
        """Round trip time in seconds."""
        nonce = random.getrandbits(32) if nonce is None else nonce
        t0 = time.perf_counter()
        msg = self._expect(self.link.request(mp.PING, {"nonce": nonce}, timeout), mp.PONG)
        if msg["nonce"] != nonce:
            raise LinkError("PONG carried nonce %d, expected %d" % (msg["nonce"], nonce))
        return time.perf_counter() - t0

    def config_get(self, key: str | None = None, timeout=DEFAULT_TIMEOUT) -> dict:
        """{key: value} for one key, or for every key when key is None."""
        values = self.link.request(mp.CONFIG_GET, {"key": key or ""}, timeout)
        return {m["key"]: m["value"] for m in values}

    def config_set(self, key: str, value, timeout=DEFAULT_TIMEOUT) -> None:
        self._expect(self.link.request(mp.CONFIG_SET, {"key": key, "value": value}, timeout), mp.ACK)

    def stream_start(self, channels: int = 1, timeout=DEFAULT_TIMEOUT) -> None:
        """Start raw SAMPLES for the channels in the bitmask (bit 0 = channel 0)."""
        self._expect(self.link.request(mp.STREAM_START, {"channels": channels}, timeout), mp.ACK)

    def stream_stop(self, timeout=DEFAULT_TIMEOUT) -> None:
        self._expect(self.link.request(mp.STREAM_STOP, {}, timeout), mp.ACK)

    def time_set(self, unix_ms: int | None = None, timeout=DEFAULT_TIMEOUT) -> dict:
        """Synchronise: returns the TIME fields (boot_id, sample_index, fs, unix_ms = what was
        sent) plus `host_ms` (host clock when TIME arrived) and `sync_ms`, the host time of
        `sample_index` by SPEC section 8: sent + round trip / 2, error within +-rtt_ms / 2."""
        if unix_ms is None:
            unix_ms = int(time.time() * 1000)
        msg = self._expect(self.link.request(mp.TIME_SET, {"unix_ms": unix_ms}, timeout), mp.TIME)
        out = dict(msg.fields)
        out.pop("ref", None)
        out["host_ms"] = int(time.time() * 1000)
        out["rtt_ms"] = max(0, out["host_ms"] - out["unix_ms"])
        out["sync_ms"] = out["unix_ms"] + out["rtt_ms"] // 2
        return out

    def mark(self, sample_index: int, timeout=DEFAULT_TIMEOUT) -> None:
        """Ask the device to log a host mark at `sample_index` (NACK E_UNSUPPORTED if it cannot)."""
        self._expect(self.link.request(mp.MARK, {"sample_index": sample_index, "source": mp.MARK_HOST},
                                       timeout), mp.ACK)

    def recv(self, timeout=None):
        return self.link.recv(timeout)

    def messages(self, timeout=None):
        return self.link.messages(timeout)

    def close(self):
        self.link.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

"""A simulated BLE radio: the air between the virtual board and host centrals, for tests, the
benchmark and `myotwitch sim --ble` (no radio needed; this is a simulation and says so).

The virtual board's stand-in `bluetooth` module (firmware/sim_bluetooth.py) and each host
central (the bleak backend in myotwitch.bleak_sim) connect to this radio over local TCP. It
enforces what a real link does to the protocol:

- the ATT MTU is 23 until an MTU exchange (min of both sides' wishes: the board asks for 247,
  `AirModel.central_mtu` is the host's); a notification carries at most MTU - 3 bytes (the
  stand-in cuts longer ones and counts them), a write without response at most MTU - 3 (the
  bleak backend refuses longer ones, as real stacks do);
- the board's stack holds `buffers` notifications; they leave only at connection events, every
  `interval_ms`, as many as fit the event (at most `max_pdus` link-layer packets, each of at
  most `ll_payload` bytes, each taking its air time at 1 Mbit/s), and only then are the
  board's buffers free again (the stand-in's gatts_notify raises ENOMEM meanwhile);
- a connection can be dropped at any moment (`drop()`): what was queued is lost, both ends are
  told, the board advertises again.

Wire format between the radio and its peers: kind u8, conn u8, length u16 LE, payload.
"""

from __future__ import annotations

import json
import random
import selectors
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass

ATT_L2CAP = 7  # ATT opcode + handle (3) and L2CAP header (4) around each notification's data
LL_OVERHEAD = 14  # preamble, access address, LL header, CRC, MIC (bytes on air per LL packet)
IFS_US = 150
EMPTY_US = 80  # the peer's empty packet acknowledging each data packet


@dataclass
class AirModel:
    """How the simulated link behaves. The defaults are a typical laptop host: a 15 ms
    connection interval (macOS, Windows and Android pick 7.5 to 50 ms), Data Length Extension
    (251-byte link-layer packets; 27 without), 1M PHY, at most 6 packets per connection event
    (controllers cap it, 4 to 10 is common), 12 notification buffers on the board (NimBLE's
    default block count on the ESP32) and a host that asks for an MTU of 247."""

    interval_ms: float = 15.0
    max_pdus: int = 6
    ll_payload: int = 251
    buffers: int = 12
    central_mtu: int = 247
    pairing: bool = True  # the host takes part in LE Secure Connections pairing

    def notifications_per_s(self, mtu: int) -> float:
        """Notifications of MTU - 3 bytes the link carries per second (the model's ceiling)."""
        packets = self.packets(mtu)
        per = sum(self.pdu_us(x) for x in packets)
        fit = min(self.max_pdus // len(packets), int((self.interval_ms * 1000 - IFS_US) // per))
        return fit * 1000 / self.interval_ms

    def pdu_us(self, payload: int) -> float:
        return (payload + LL_OVERHEAD) * 8 + 2 * IFS_US + EMPTY_US

    def packets(self, att_bytes: int) -> list[int]:
        """Link-layer packet payload sizes that carry one ATT PDU of `att_bytes` (+ L2CAP)."""
        left = att_bytes + 4
        out = []
        while left > 0:
            out.append(min(left, self.ll_payload))
            left -= self.ll_payload
        return out


def _frame(kind: str, conn: int, payload: bytes = b"") -> bytes:
    return struct.pack("<BBH", ord(kind), conn, len(payload)) + payload


class _Peer:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.role = None
        self.conn = None  # the _Conn it is part of
        # device
        self.addr = None
        self.adv_us = 0
        self.adv = b""
        self.resp = b""
        self.connectable = True
        self.gatt = ""
        self.next_adv = 0.0
        # central
        self.scanning = False

    def send(self, data: bytes):
        try:
            self.sock.sendall(data)
        except OSError:
            pass


class _Conn:
    def __init__(self, dev, cen, mtu_wish):
        self.dev = dev
        self.cen = cen
        self.handle = 1
        self.mtu = 23
        self.central_mtu = mtu_wish
        self.notes: deque = deque()  # (handle, data) from the board, waiting for the air
        self.writes: deque = deque()  # (handle, data, response) from the central
        self.next_event = time.monotonic()
        self.encrypted = False


class Radio:
    """The simulated air. `start()` listens on 127.0.0.1 (`port`); the virtual board is started
    with `--ble PORT`, centrals connect through myotwitch.bleak_sim."""

    def __init__(self, model: AirModel | None = None, seed: int | None = None):
        self.model = model or AirModel()
        self.port = None
        self._rng = random.Random(seed)
        self._sel = selectors.DefaultSelector()
        self._lsock = None
        self._thread = None
        self._stop = False
        self._lock = threading.Lock()
        self._conns: list[_Conn] = []
        self._peers: list[_Peer] = []
        self._drop_now = False
        self.counters = {"notifications": 0, "notify_bytes": 0, "air_bytes": 0, "packets": 0,
                         "events": 0, "writes": 0, "connections": 0, "drops": 0,
                         "oversize": 0, "max_notification": 0, "adverts": 0}
        self.connected = threading.Event()
        # tap(t, data): every notification as the board hands it to the stack (t: monotonic),
        # for measuring latency (bench_ble)
        self.tap = None

    # ---- lifetime

    def start(self) -> "Radio":
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        ls.setblocking(False)
        self._lsock = ls
        self.port = ls.getsockname()[1]
        self._sel.register(ls, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._run, name="myotwitch-blesim", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop = True
        if self._thread is not None:
            self._thread.join(2)
        for p in list(self._peers):
            try:
                p.sock.close()
            except OSError:
                pass
        if self._lsock is not None:
            self._lsock.close()
        self._sel.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- what tests and the benchmark use

    def drop(self):
        """Drop every connection now (the radio's own thread does it at its next turn)."""
        self._drop_now = True

    def stats(self) -> dict:
        with self._lock:
            out = dict(self.counters)
            out["mtu"] = self._conns[0].mtu if self._conns else None
            out["model"] = asdict(self.model)
        return out

    def devices(self) -> list[dict]:
        with self._lock:
            return [{"addr": p.addr, "advertising": p.adv_us > 0, "connected": p.conn is not None}
                    for p in self._peers if p.role == "device"]

    # ---- the loop

    def _run(self):
        while not self._stop:
            timeout = self._next_timer() - time.monotonic()
            for key, _ in self._sel.select(max(0.0, min(timeout, 0.05))):
                if key.data is None:
                    self._accept()
                else:
                    self._read(key.data)
            now = time.monotonic()
            if self._drop_now:
                self._drop_now = False
                for c in list(self._conns):
                    self._disconnect(c, dropped=True)
            for c in list(self._conns):
                if now >= c.next_event:
                    self._event(c)
                    c.next_event += self.model.interval_ms / 1000
                    if c.next_event < now:
                        c.next_event = now + self.model.interval_ms / 1000
            self._advertise(now)

    def _next_timer(self):
        t = time.monotonic() + 0.05
        for c in self._conns:
            t = min(t, c.next_event)
        return t

    def _accept(self):
        try:
            s, _ = self._lsock.accept()
        except OSError:
            return
        s.setblocking(True)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        p = _Peer(s)
        self._peers.append(p)
        self._sel.register(s, selectors.EVENT_READ, p)

    def _close(self, p):
        try:
            self._sel.unregister(p.sock)
        except (KeyError, ValueError):
            pass
        try:
            p.sock.close()
        except OSError:
            pass
        if p in self._peers:
            self._peers.remove(p)
        if p.conn is not None:
            self._disconnect(p.conn)

    def _read(self, p):
        try:
            data = p.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._close(p)
            return
        p.buf.extend(data)
        while len(p.buf) >= 4:
            kind, conn, n = struct.unpack_from("<BBH", p.buf)
            if len(p.buf) < 4 + n:
                break
            payload = bytes(p.buf[4:4 + n])
            del p.buf[:4 + n]
            self._message(p, chr(kind), conn, payload)

    # ---- messages

    def _message(self, p, kind, conn, payload):
        if kind == "H":  # the board's stand-in
            p.role = "device"
            a = self._rng.getrandbits(48) | 0xC00000000000  # a random static address
            p.addr = ":".join("%02X" % b for b in a.to_bytes(6, "big"))
        elif kind == "Z":
            p.role = "central"
        elif p.role == "device":
            self._from_device(p, kind, conn, payload)
        elif p.role == "central":
            self._from_central(p, kind, conn, payload)

    def _from_device(self, p, kind, conn, payload):
        c = p.conn
        if kind == "G":
            p.gatt = payload.decode()
        elif kind == "A":
            p.adv_us = int.from_bytes(payload[:4], "little")
            n = payload[4]
            p.adv, p.resp = payload[5:5 + n], payload[5 + n:]
            p.connectable = bool(conn)
            p.next_adv = time.monotonic()
            if p.adv_us:
                with self._lock:
                    self.counters["adverts"] += 1  # advertising (re)started
        elif kind == "N" and c is not None:
            if len(payload) > c.mtu - 3:
                with self._lock:
                    self.counters["oversize"] += 1  # the firmware must never do this
                payload = payload[:c.mtu - 3]  # the stack sends what fits, as NimBLE does
            if self.tap is not None:
                self.tap(time.monotonic(), payload)
            c.notes.append((conn, payload))
        elif kind == "D" and c is not None:
            self._disconnect(c)
        elif kind == "M" and c is not None:
            wish = int.from_bytes(payload[:2], "little")
            self._mtu(c, min(wish, c.central_mtu))
        elif kind == "P" and c is not None and self.model.pairing and not c.encrypted:
            c.encrypted = True
            c.dev.send(_frame("E", c.handle, bytes((1, 0, 0, 16))))
            c.cen.send(_frame("e", c.handle, b"\x01"))

    def _from_central(self, p, kind, conn, payload):
        c = p.conn
        if kind == "S":
            p.scanning = bool(payload and payload[0])
        elif kind == "c":
            req = json.loads(payload)
            dev = next((d for d in self._peers if d.role == "device" and d.addr == req["addr"]
                        and d.adv_us > 0 and d.connectable and d.conn is None), None)
            if dev is None or p.conn is not None:
                p.send(_frame("!", 0, b"no connectable board advertises at %s" % req["addr"].encode()))
                return
            c = _Conn(dev, p, req.get("mtu", self.model.central_mtu))
            c.next_event = time.monotonic() + self.model.interval_ms / 1000
            with self._lock:
                self._conns.append(c)
                self.counters["connections"] += 1
            dev.conn = p.conn = c
            dev.adv_us = 0  # a connected peripheral stops advertising (as NimBLE does)
            central_addr = bytes(self._rng.getrandbits(8) for _ in range(6))
            dev.send(_frame("C", c.handle, bytes((self.model.buffers,)) + central_addr))
            p.send(_frame("o", c.handle, json.dumps({"mtu": 23, "gatt": dev.gatt}).encode()))
            self.connected.set()
        elif kind == "w" and c is not None:
            h = int.from_bytes(payload[:2], "little")
            data = payload[2:]
            if conn == 0 and len(data) > c.mtu - 3:
                return  # (the backend refuses these before they get here)
            c.writes.append((h, data, bool(conn)))
        elif kind == "m" and c is not None:
            c.central_mtu = int.from_bytes(payload[:2], "little")
            self._mtu(c, min(c.central_mtu, 247))
        elif kind == "d" and c is not None:
            self._disconnect(c)

    def _mtu(self, c, mtu):
        c.mtu = max(23, mtu)
        c.dev.send(_frame("U", c.handle, c.mtu.to_bytes(2, "little")))
        c.cen.send(_frame("u", c.handle, c.mtu.to_bytes(2, "little")))

    def _disconnect(self, c, dropped=False):
        with self._lock:
            if c not in self._conns:
                return
            self._conns.remove(c)
            if dropped:
                self.counters["drops"] += 1
        c.dev.conn = c.cen.conn = None
        c.dev.send(_frame("X", c.handle))
        c.cen.send(_frame("x", c.handle))

    # ---- the air

    def _event(self, c):
        """One connection event: the central's writes, then the board's notifications, as many
        as the event's packets and air time allow; delivered, and the board's buffers freed."""
        m = self.model
        budget_us = m.interval_ms * 1000 - IFS_US
        pdus = 0
        sent = 0
        with self._lock:
            self.counters["events"] += 1
        while c.writes:
            h, data, response = c.writes[0]
            packets = m.packets(len(data) + 3)
            cost = sum(m.pdu_us(x) for x in packets)
            if pdus + len(packets) > m.max_pdus or cost > budget_us:
                break
            c.writes.popleft()
            pdus += len(packets)
            budget_us -= cost
            c.dev.send(_frame("W", c.handle, h.to_bytes(2, "little") + data))
            if response:
                c.cen.send(_frame("r", c.handle))
            with self._lock:
                self.counters["writes"] += 1
        while c.notes:
            h, data = c.notes[0]
            packets = m.packets(len(data) + 3)
            cost = sum(m.pdu_us(x) for x in packets)
            if pdus + len(packets) > m.max_pdus or cost > budget_us:
                break
            c.notes.popleft()
            pdus += len(packets)
            budget_us -= cost
            sent += 1
            c.cen.send(_frame("n", c.handle, h.to_bytes(2, "little") + data))
            with self._lock:
                self.counters["notifications"] += 1
                self.counters["notify_bytes"] += len(data)
                self.counters["max_notification"] = max(self.counters["max_notification"],
                                                        len(data))
                self.counters["air_bytes"] += len(data) + ATT_L2CAP
                self.counters["packets"] += len(packets)
        if sent:
            c.dev.send(_frame("K", c.handle, bytes((sent,))))

    def _advertise(self, now):
        scanners = [p for p in self._peers if p.role == "central" and p.scanning]
        if not scanners:
            return
        for d in self._peers:
            if d.role != "device" or d.adv_us <= 0 or d.conn is not None or now < d.next_adv:
                continue
            d.next_adv = now + max(d.adv_us / 1e6, 0.1)
            report = json.dumps({"addr": d.addr, "rssi": -50 - self._rng.randrange(25),
                                 "adv": d.adv.hex(), "resp": d.resp.hex(),
                                 "connectable": d.connectable}).encode()
            for s in scanners:
                s.send(_frame("a", 0, report))


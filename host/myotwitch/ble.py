"""The host end of the BLE link: the board's Nordic UART Service through bleak, behind the same
serial-port interface link.Link reads and writes (read, write, in_waiting, close), so every
command works over it.

    --port ble:auto       the one paired board in range (or the only board, if none is paired)
    --port ble:NAME       the board advertising NAME (CONFIG `name`) or that device id
    --port ble:ADDRESS    a BLE address, as the OS shows it

Opening does the owner's handshake (SPEC section 13) with the key `myotwitch pair` stored for
the board's device id; after it, every request the Link sends is sealed with the session MAC
(`seal`). A dropped connection is re-established by itself (found again by device id: its
address may change), with a new handshake; bytes of a frame cut short are ended with a 0x00,
so the Link counts one lost frame and `pull` re-reads from the last record it kept.

bleak is asyncio; the Link is threads: an event loop runs in a thread of its own here.
MYOTWITCH_BLE=sim uses the simulated radio of `myotwitch sim --ble` (myotwitch.bleak_sim)
instead of the computer's Bluetooth adapter.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from dataclasses import asdict, dataclass

from myotwitch.link import LinkError
from myotwitch.protocol import myoproto as mp

PREFIX = "ble:"
NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"  # host writes
NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"  # board notifies
MFR_ID = 0xFFFF  # manufacturer data holding the device id (0xFFFF: no company, SPEC section 12)
SCAN_S = 4.0  # `myotwitch scan`
FIND_S = 2.0  # finding the board to connect to: 4 adverts at the default 500 ms interval
CONNECT_S = 20.0
REQUEST_S = 5.0  # a handshake step
RECONNECT_TRIES = 8
WRITE_S = 10.0


class BleError(LinkError):
    """Bluetooth is missing, the board is not found, or it refused this host."""


def is_ble_port(port) -> bool:
    return isinstance(port, str) and port.startswith(PREFIX)


# ---------------------------------------------------------------- the radio in use


def sim_radio_port() -> int:
    """The simulated radio: MYOTWITCH_BLE_RADIO (a port), else the one `myotwitch sim --ble`
    published."""
    env = os.environ.get("MYOTWITCH_BLE_RADIO")
    if env:
        return int(env)
    from myotwitch.sim import Claim

    held = Claim().holder() or {}
    if held.get("ble_radio"):
        return int(held["ble_radio"])
    raise BleError("MYOTWITCH_BLE=sim but no simulated radio runs: start `myotwitch sim --ble` "
                   "(it prints what to type)")


def backend_options() -> dict:
    """Keyword arguments for BleakScanner/BleakClient: the simulated radio's backend when
    MYOTWITCH_BLE=sim, else nothing (bleak's backend for this OS)."""
    if os.environ.get("MYOTWITCH_BLE", "").lower() == "sim":
        return {"sim": True, "radio": sim_radio_port()}
    return {}


def _scanner_kw(opts):
    if opts.get("sim"):
        from myotwitch.bleak_sim import SimScanner

        return {"backend": SimScanner, "radio": opts["radio"]}
    return {}


def _client_kw(opts):
    if opts.get("sim"):
        from myotwitch.bleak_sim import SimClient

        kw = {"backend": SimClient, "radio": opts["radio"]}
        if opts.get("mtu"):
            kw["mtu"] = opts["mtu"]
        return kw
    return {}


def _no_radio(e) -> BleError:
    return BleError("Bluetooth is not available here (%s): check that the computer has a "
                    "Bluetooth adapter and that it is on; for the virtual board use "
                    "`myotwitch sim --ble` and MYOTWITCH_BLE=sim" % (e,))


# ---------------------------------------------------------------- scanning


@dataclass
class Found:
    name: str | None
    address: str
    device_id: str | None
    rssi: int
    paired: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def device_id_of(adv) -> str | None:
    data = adv.manufacturer_data.get(MFR_ID)
    return bytes(data).hex() if data else None


async def discover(timeout: float = SCAN_S, opts: dict | None = None) -> list[Found]:
    from bleak import BleakScanner

    opts = backend_options() if opts is None else opts
    try:
        seen = await BleakScanner.discover(timeout=timeout, return_adv=True,
                                           service_uuids=[NUS_SERVICE], **_scanner_kw(opts))
    except BleError:
        raise
    except Exception as e:  # BleakError, DBus errors, no adapter: all mean "no radio"
        raise _no_radio(e) from e
    out = []
    for dev, adv in seen.values():
        out.append(Found(adv.local_name or dev.name, dev.address, device_id_of(adv), adv.rssi))
    out.sort(key=lambda f: -f.rssi)
    return out


def scan(timeout: float = SCAN_S, keys=None, opts: dict | None = None) -> list[Found]:
    """Boards nearby (Nordic UART Service advertisers), strongest first, with `paired` = this
    host holds their owner key."""
    from myotwitch.ownerkeys import KeyStore

    keys = keys or KeyStore()
    found = asyncio.run(discover(timeout, opts))
    for f in found:
        f.paired = bool(f.device_id) and _has_key(keys, f.device_id)
    return found


def _has_key(keys, device_id) -> bool:
    try:
        return keys.get(device_id) is not None
    except Exception:
        return False


def choose(spec: str, found: list[Found], keys) -> Found:
    """The board `spec` (the part after "ble:") names among `found`."""
    want = spec.strip()
    if want in ("", "auto"):
        paired = [f for f in found if f.device_id and _has_key(keys, f.device_id)]
        pick = paired or found
        if len(pick) == 1:
            return pick[0]
        if not pick:
            raise BleError("no myotwitch board advertising nearby (is it on, its radio on "
                           "(CONFIG ble), and not connected to another host?)")
        raise BleError("several boards nearby: name one with --port ble:NAME or ble:ID:\n" +
                       "\n".join("  %s  id %s  %d dBm%s" % (f.name, f.device_id, f.rssi,
                                                            "  paired" if f.device_id in
                                                            {p.device_id for p in paired} else "")
                                 for f in pick))
    match = [f for f in found if want in (f.name, f.device_id) or f.address.lower() == want.lower()]
    if len(match) == 1:
        return match[0]
    if not match:
        raise BleError("no board named %r advertising nearby (myotwitch scan lists them)" % want)
    raise BleError("%d boards are named %r: use its id instead (myotwitch scan)"
                   % (len(match), want))


# ---------------------------------------------------------------- the serial-like port


class BleSerial:
    """A board over BLE, looking like a serial port to link.Link (see the module docstring)."""

    def __init__(self, spec: str, keys=None, opts: dict | None = None, reconnect: bool = True,
                 scan_timeout: float = FIND_S):
        from myotwitch.ownerkeys import KeyStore

        self.spec = spec[len(PREFIX):] if is_ble_port(spec) else spec
        self.keys = keys or KeyStore()
        self.opts = backend_options() if opts is None else dict(opts)
        self.reconnect = reconnect
        self.scan_timeout = scan_timeout
        self.port = PREFIX + self.spec
        self.address = None
        self.device_id = None
        self.name = None
        self.reconnects = 0
        self.handshake_bytes = 0  # sent and received during the last handshake
        self.handshake_s = 0.0
        self._buf = bytearray()
        self._cv = threading.Condition()
        self._failed: Exception | None = None
        self._closing = False
        self._down = False
        self._epoch = 0
        self._local = threading.local()
        self._session = None
        self._client = None
        self._hs_queue: asyncio.Queue | None = None
        self._hs_decoder = None
        self._seq = random.randrange(1, 0x10000)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="myotwitch-ble",
                                        daemon=True)
        self._thread.start()
        try:
            self._run(self._open(), CONNECT_S + scan_timeout + 4 * REQUEST_S)
        except BaseException:
            self.close()
            raise

    def _run(self, coro, timeout):
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise BleError("the board did not answer over BLE within %.0f s" % timeout) from None

    # ---- connecting

    async def _find(self):
        found = await discover(self.scan_timeout, self.opts)
        if self.device_id:  # a reconnection: the same board, wherever its address went
            same = [f for f in found if f.device_id == self.device_id]
            if not same:
                raise BleError("board %s is no longer advertising" % self.device_id)
            return same[0]
        return choose(self.spec, found, self.keys)

    async def _open(self):
        from bleak import BleakClient

        looks_like_address = self.spec.count(":") == 5
        if looks_like_address and not self.address:
            self.address = self.spec
        else:
            f = await self._find()
            self.address, self.name = f.address, f.name
            if f.device_id and not self.device_id:
                self.device_id = f.device_id
        try:
            client = BleakClient(self.address, disconnected_callback=self._on_disconnect,
                                 timeout=CONNECT_S, **_client_kw(self.opts))
            await client.connect()
        except BleError:
            raise
        except Exception as e:
            raise BleError("cannot connect to %s over BLE: %s" % (self.address, e)) from e
        self._client = client
        self._hs_queue = asyncio.Queue()
        self._hs_decoder = mp.StreamDecoder()
        await client.start_notify(NUS_TX, self._on_notify)
        await asyncio.sleep(0.05)  # let an MTU exchange the board asked for land
        t0 = time.monotonic()
        self.handshake_bytes = 0
        await self._handshake()
        self.handshake_s = time.monotonic() - t0
        self._hs_queue = None  # from here on notifications are the Link's bytes

    def _next_seq(self):
        s = self._seq
        self._seq = (s + 1) & 0xFFFFFFFE
        return s

    async def _ask(self, msg_type, fields):
        seq = self._next_seq()
        frame = mp.encode(msg_type, seq, fields)
        self.handshake_bytes += len(frame)
        await self._send(frame)
        end = time.monotonic() + REQUEST_S
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise BleError("no answer to %s over BLE" % mp.SCHEMA[msg_type][0])
            try:
                msg = await asyncio.wait_for(self._hs_queue.get(), left)
            except asyncio.TimeoutError:
                continue
            if msg.get("ref") != seq:
                continue
            if msg.type == mp.NACK:
                code = msg["code"]
                text = msg.get("reason", "")
                if code == mp.E_AUTH and "no owner" in text:
                    raise BleError("board %s has no owner yet: connect it by USB and run "
                                   "`myotwitch pair`" % (self.device_id or self.address))
                if code == mp.E_RATE_LIMIT:
                    raise BleError("board %s refuses for now: %s" % (self.device_id, text))
                raise BleError("board %s refused %s: %s (%s)" % (
                    self.device_id or self.address, mp.SCHEMA[msg_type][0],
                    mp.ERROR_NAMES.get(code, code), text))
            return msg

    async def _handshake(self):
        from myotwitch.ownerauth import AuthError, Handshake
        from myotwitch.ownerkeys import OwnerKeyError

        hello = await self._ask(mp.HELLO_REQ, {})
        did = hello.get("device_id")
        if not did:
            raise BleError("the board at %s does not say its device id (firmware too old for "
                           "BLE access)" % self.address)
        if self.device_id and did != self.device_id:
            raise BleError("the board at %s says it is %s, not %s" % (self.address, did,
                                                                      self.device_id))
        self.device_id = did
        try:
            key = self.keys.get(did)
        except OwnerKeyError as e:
            raise BleError(str(e)) from e
        if key is None:
            raise BleError("this host is not paired with board %s: connect it by USB and run "
                           "`myotwitch pair` (physical access is what proves you own it)" % did)
        hs = Handshake(key, did)
        ch = await self._ask(mp.AUTH_START, {"nonce": hs.nonce})
        try:
            proof = hs.answer(ch.fields)
        except AuthError as e:
            raise BleError(str(e)) from e
        await self._ask(mp.AUTH_PROVE, {"proof": proof})
        self._session = hs.session()
        self._epoch += 1

    def _on_notify(self, _char, data):
        q = self._hs_queue
        if q is not None:
            self.handshake_bytes += len(data)
            for msg in self._hs_decoder.feed(data):
                q.put_nowait(msg)
            return
        with self._cv:
            self._buf.extend(data)
            self._cv.notify_all()

    def _on_disconnect(self, _client):
        if self._closing:
            return
        self._session = None
        if self.reconnect:
            self._down = True
            asyncio.ensure_future(self._recover(), loop=self._loop)
        else:
            self._fail(BleError("the BLE connection to %s was lost" % self.address))

    async def _recover(self):
        delay = 0.2
        err = None
        for _ in range(RECONNECT_TRIES):
            if self._closing:
                return
            await asyncio.sleep(delay)
            try:
                old = self._client
                self._client = None
                if old is not None:
                    try:
                        await old.disconnect()
                    except Exception:
                        pass
                await self._open()
            except BleError as e:
                err = e
                if "not paired" in str(e) or "no owner" in str(e) or "did not prove" in str(e):
                    break
                delay = min(delay * 2, 4.0)
                continue
            self.reconnects += 1
            with self._cv:
                self._buf.extend(b"\x00")  # ends a frame the drop cut short
                self._down = False
                self._cv.notify_all()
            return
        self._fail(BleError("lost the BLE connection to %s and could not get it back: %s"
                            % (self.device_id or self.address, err)))

    def _fail(self, err):
        with self._cv:
            self._failed = err
            self._down = False
            self._cv.notify_all()

    # ---- the serial-port interface link.Link uses

    @property
    def in_waiting(self) -> int:
        if self._failed is not None and not self._buf:
            raise OSError(str(self._failed))
        return len(self._buf)

    def read(self, n: int = 1) -> bytes:
        with self._cv:
            if not self._buf:
                if self._failed is not None:
                    raise OSError(str(self._failed))
                self._cv.wait(0.05)
            out = bytes(self._buf[:n])
            del self._buf[:n]
            return out

    def seal(self, msg_type: int, seq: int, payload: bytes) -> bytes:
        s = self._session
        self._local.epoch = self._epoch
        return s.mac(msg_type, seq, payload) if s is not None else b""

    def write(self, data: bytes) -> int:
        with self._cv:
            end = time.monotonic() + WRITE_S
            while self._down and self._failed is None and time.monotonic() < end:
                self._cv.wait(0.1)
            if self._failed is not None:
                raise OSError(str(self._failed))
        if getattr(self._local, "epoch", self._epoch) != self._epoch:
            return len(data)  # sealed for a session that ended: the Link's retry re-seals it
        self._run(self._send(bytes(data)), WRITE_S)
        return len(data)

    async def _send(self, data: bytes):
        c = self._client
        if c is None or not c.is_connected:
            return  # dropped meanwhile: the request times out and is retried
        rx = c.services.get_characteristic(NUS_RX)
        room = max(20, rx.max_write_without_response_size)
        # A 0x00 first: it ends any partial frame the board holds (a write lost to a drop or to
        # its full RX buffer), so this frame is read whole (SPEC section 2: idle delimiters).
        data = b"\x00" + data
        try:
            for i in range(0, len(data), room):
                await c.write_gatt_char(rx, data[i:i + room], response=False)
        except Exception:
            pass  # the connection went: recovery is under way, the Link retries

    def flush(self):
        pass

    def reset_input_buffer(self):
        with self._cv:
            self._buf.clear()

    @property
    def mtu(self) -> int:
        c = self._client
        return c.mtu_size if c is not None else 23

    def close(self):
        if self._closing:
            return
        self._closing = True
        c = self._client
        if c is not None and self._loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(c.disconnect(), self._loop).result(5)
            except Exception:
                pass
        if self._loop.is_running():
            try:  # a reconnection under way ends here, not as a task destroyed pending
                asyncio.run_coroutine_threadsafe(_cancel_others(), self._loop).result(2)
            except Exception:
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(2)
        with self._cv:
            if self._failed is None:
                self._failed = BleError("closed")
            self._cv.notify_all()


async def _cancel_others():
    me = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not me]
    for t in others:
        t.cancel()
    await asyncio.gather(*others, return_exceptions=True)


def open_ble(port: str, **kw):
    """A link.Device over BLE, handshake done."""
    from myotwitch.link import Device, Link

    s = BleSerial(port, **kw)
    return Device(Link(s, name=s.port + (" (%s)" % s.device_id if s.device_id else "")))


def streaming_host(radio_port: int, key: bytes, quiet_s: float = 15.0,
                   requests: bool = False) -> dict:
    """A BLE host in a thread, for heap measurements of the virtual board: it connects to the
    one board on the simulated radio with the owner key `key`, starts the raw stream and reads
    until `quiet_s` pass without a message. Returns a dict it keeps up to date: `messages`,
    and `error` if it failed. requests: before the stream, ask what a person's host asks after
    the handshake (HELLO, CONFIG_GET and CONFIG_SET, PING, TIME_SET, LOG_READ of the whole log);
    `refused` lists the NACKs (type name, code name); STREAM_START refused busy is asked again
    (at most 5 times), as the board's "out of memory, retry" says."""
    from myotwitch.link import DeviceError

    class OneKey:
        def get(self, device_id):
            return key

    state = {"messages": 0, "refused": []}

    def ask(dev):
        calls = (dev.hello, lambda: dev.config_get("det_thresh"), dev.ping, dev.time_set,
                 lambda: dev.config_set("status_s", 3600), lambda: dev.config_set("det_thresh", 97),
                 lambda: read_log(dev))
        for call in calls:
            try:
                call()
            except DeviceError as e:
                state["refused"].append((mp.SCHEMA[e.request_type][0], e.code_name))

    def read_log(dev):
        with dev.link.open_stream(mp.LOG_READ, {"from_seq": 0, "to_seq": 0xFFFFFFFF}) as s:
            while True:
                msg = s.next(5.0)
                if msg is None:
                    raise LinkError("LOG_READ: no answer")
                if msg.type == mp.NACK:
                    raise DeviceError(mp.LOG_READ, msg.fields["code"], msg.fields["reason"])
                if msg.type == mp.LOG_CHUNK and msg.fields["flags"] & mp.CHUNK_LAST:
                    return

    def run():
        try:
            with open_ble("ble:auto", keys=OneKey(), opts={"sim": True, "radio": radio_port},
                          scan_timeout=1.0) as dev:
                if requests:
                    ask(dev)
                for attempt in range(5):
                    try:
                        dev.stream_start(1)
                        break
                    except DeviceError as e:
                        # E_BUSY: the board's heap had no room for the gate's code this time
                        # (it says "retry"); counted in `refused` like the others.
                        if e.code_name != "busy" or attempt == 4:
                            raise
                        state["refused"].append(("STREAM_START", e.code_name))
                        time.sleep(0.5)
                for _ in dev.messages(timeout=quiet_s):
                    state["messages"] += 1
        except Exception as e:  # the caller shows it
            state["error"] = repr(e)

    threading.Thread(target=run, name="myotwitch-ble-host", daemon=True).start()
    return state

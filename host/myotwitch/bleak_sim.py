"""A bleak backend for the simulated radio (myotwitch.blesim): the host's BLE code runs through
bleak's own API (BleakScanner, BleakClient, GATT services, notifications, write limits) with
these passed as `backend=`, and reaches the virtual board through the simulated air instead of
an adapter. It is a stand-in for the platform backends (BlueZ, CoreBluetooth, WinRT), named so,
and used only when MYOTWITCH_BLE=sim or a test asks for it.

    BleakScanner(backend=SimScanner, radio=PORT)
    BleakClient(address, backend=SimClient, radio=PORT)
"""

from __future__ import annotations

import asyncio
import json
import struct
import uuid as uuidlib
from typing import Any, Optional

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError

FLAG_NAMES = ((0x0002, "read"), (0x0004, "write-without-response"), (0x0008, "write"),
              (0x0010, "notify"), (0x0020, "indicate"))


def parse_ad(data: bytes) -> dict:
    """The AD structures of an advertising or scan response payload (Core spec vol 3 part C
    section 11): local name, 16/128-bit service UUIDs, manufacturer data."""
    out: dict = {"name": None, "uuids": [], "mfr": {}}
    i = 0
    while i < len(data):
        n = data[i]
        if n == 0 or i + 1 + n > len(data):
            break
        t, v = data[i + 1], bytes(data[i + 2:i + 1 + n])
        if t in (0x08, 0x09):
            out["name"] = v.decode("utf-8", "replace")
        elif t in (0x06, 0x07):
            for k in range(0, len(v) - 15, 16):
                out["uuids"].append(str(uuidlib.UUID(bytes=v[k:k + 16][::-1])))
        elif t in (0x02, 0x03):
            for k in range(0, len(v) - 1, 2):
                out["uuids"].append("0000%04x-0000-1000-8000-00805f9b34fb"
                                    % int.from_bytes(v[k:k + 2], "little"))
        elif t == 0xFF and len(v) >= 2:
            out["mfr"][int.from_bytes(v[:2], "little")] = v[2:]
        i += 1 + n
    return out


class _RadioLink:
    """One central's connection to the simulated radio (asyncio)."""

    def __init__(self, port: int, on_message):
        self.port = port
        self.on_message = on_message
        self.reader = self.writer = None
        self.task = None

    async def open(self):
        try:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError as e:
            raise BleakError("the simulated radio on port %d is not there (is `myotwitch sim "
                             "--ble` running?): %s" % (self.port, e)) from e
        self.send("Z", 0)
        self.task = asyncio.ensure_future(self._read())

    def send(self, kind: str, conn: int, payload: bytes = b""):
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(struct.pack("<BBH", ord(kind), conn, len(payload)) + payload)

    async def _read(self):
        try:
            while True:
                head = await self.reader.readexactly(4)
                kind, conn, n = struct.unpack("<BBH", head)
                payload = await self.reader.readexactly(n) if n else b""
                self.on_message(chr(kind), conn, payload)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            self.on_message("x", 0, b"")
        except asyncio.CancelledError:
            pass

    async def close(self):
        if self.task is not None:
            self.task.cancel()
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self.writer = None


def _port(radio) -> int:
    if radio is None:
        raise BleakError("the simulated radio's backend needs radio=PORT (myotwitch.ble finds "
                         "it: MYOTWITCH_BLE_RADIO, or what `myotwitch sim --ble` published)")
    return int(radio)


class SimScanner(BaseBleakScanner):
    def __init__(self, detection_callback, service_uuids, scanning_mode="active", *,
                 radio=None, **kwargs: Any):
        super().__init__(detection_callback, service_uuids)
        self._radio = _port(radio)
        self._link: Optional[_RadioLink] = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._link = _RadioLink(self._radio, self._on)
        await self._link.open()
        self._link.send("S", 0, b"\x01")

    async def stop(self) -> None:
        if self._link is not None:
            self._link.send("S", 0, b"\x00")
            await self._link.close()
            self._link = None

    def _on(self, kind, conn, payload):
        if kind != "a":
            return
        r = json.loads(payload)
        adv, resp = parse_ad(bytes.fromhex(r["adv"])), parse_ad(bytes.fromhex(r["resp"]))
        uuids = adv["uuids"] + resp["uuids"]
        if not self.is_allowed_uuid(uuids):
            return
        name = resp["name"] or adv["name"]
        data = AdvertisementData(local_name=name, manufacturer_data={**adv["mfr"], **resp["mfr"]},
                                 service_data={}, service_uuids=uuids, tx_power=None,
                                 rssi=r["rssi"], platform_data=(r,))
        device = self.create_or_update_device(r["addr"], r["addr"], name, r, data)
        self.call_detection_callbacks(device, data)


class SimClient(BaseBleakClient):
    def __init__(self, address_or_ble_device, *, radio=None, services=None, bluez=None,
                 winrt=None, mtu: Optional[int] = None, **kwargs: Any):
        super().__init__(address_or_ble_device, **kwargs)
        self._radio = _port(radio)
        self._mtu_wish = mtu  # None: the radio's model (AirModel.central_mtu)
        self._mtu = 23
        self._link: Optional[_RadioLink] = None
        self._connected = False
        self._opened: Optional[asyncio.Future] = None
        self._callbacks: dict[int, NotifyCallback] = {}
        self._responses: asyncio.Queue | None = None
        self.encrypted = False

    @property
    def name(self) -> str:
        return self.address

    @property
    def mtu_size(self) -> int:
        return self._mtu

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        loop = asyncio.get_running_loop()
        self._opened = loop.create_future()
        self._responses = asyncio.Queue()
        self._link = _RadioLink(self._radio, self._on)
        await self._link.open()
        req = {"addr": self.address}
        if self._mtu_wish is not None:
            req["mtu"] = self._mtu_wish
        self._link.send("c", 0, json.dumps(req).encode())
        try:
            gatt = await asyncio.wait_for(self._opened, self._timeout)
        except asyncio.TimeoutError:
            await self._link.close()
            raise BleakError("no answer from %s within %.0f s" % (self.address, self._timeout))
        except BleakError:
            await self._link.close()
            raise
        self.services = self._services(gatt)
        self._connected = True

    def _services(self, table: str) -> BleakGATTServiceCollection:
        coll = BleakGATTServiceCollection()
        parts = table.split(";")
        svc = BleakGATTService(None, 1, parts[0].lower())
        coll.add_service(svc)
        for p in parts[1:]:
            u, h, flags = p.split(",")
            props = [name for bit, name in FLAG_NAMES if int(flags) & bit]
            ch = BleakGATTCharacteristic(None, int(h), u.lower(), props,
                                         lambda: self._mtu - 3, svc)
            coll.add_characteristic(ch)  # (adds it to its service too)
        return coll

    def _on(self, kind, conn, payload):
        if kind == "o":
            r = json.loads(payload)
            self._mtu = r["mtu"]
            if self._opened is not None and not self._opened.done():
                self._opened.set_result(r["gatt"])
        elif kind == "!":
            if self._opened is not None and not self._opened.done():
                self._opened.set_exception(BleakError(payload.decode()))
        elif kind == "n":
            h = int.from_bytes(payload[:2], "little")
            cb = self._callbacks.get(h)
            if cb is not None:
                cb(bytearray(payload[2:]))
        elif kind == "u":
            self._mtu = int.from_bytes(payload[:2], "little")
        elif kind == "e":
            self.encrypted = bool(payload[0])
        elif kind == "r":
            if self._responses is not None:
                self._responses.put_nowait(True)
        elif kind == "x":
            was = self._connected
            self._connected = False
            if self._opened is not None and not self._opened.done():
                self._opened.set_exception(BleakError("disconnected while connecting"))
            if was and self._disconnected_callback is not None:
                self._disconnected_callback()

    async def disconnect(self) -> None:
        if self._link is not None:
            if self._connected:
                self._link.send("d", 0)
            self._connected = False
            await self._link.close()
            self._link = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        pass  # the board asks for LE Secure Connections itself; the radio models the result

    async def unpair(self) -> None:
        pass

    async def read_gatt_char(self, characteristic, *, use_cached=False, **kwargs) -> bytearray:
        raise BleakError("the myotwitch service has nothing to read: it notifies")

    async def read_gatt_descriptor(self, descriptor, *, use_cached=False, **kwargs) -> bytearray:
        raise BleakError("no descriptors in the simulation")

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data,
                              response: bool) -> None:
        if not self._connected:
            raise BleakError("not connected")
        data = bytes(data)
        if not response and len(data) > self._mtu - 3:
            raise BleakError("write without response of %d bytes exceeds MTU - 3 = %d"
                             % (len(data), self._mtu - 3))
        if response and len(data) > 512:
            raise BleakError("an attribute value is at most 512 bytes")
        self._link.send("w", 1 if response else 0,
                        characteristic.handle.to_bytes(2, "little") + data)
        if response:
            await asyncio.wait_for(self._responses.get(), self._timeout)

    async def write_gatt_descriptor(self, descriptor, data) -> None:
        raise BleakError("no descriptors in the simulation")

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: NotifyCallback, **kwargs: Any) -> None:
        self._callbacks[characteristic.handle] = callback

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._callbacks.pop(characteristic.handle, None)

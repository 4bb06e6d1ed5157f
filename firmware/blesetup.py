# The BLE link's set-up (blelink.py): the Nordic UART Service, advertising, and what happens
# when a host connects or leaves. Imported for the pass that needs it, dropped after (the heap
# is 64 KB); the gate every frame from a host passes is blectl.py.

import binascii

import bluetooth
from micropython import const

_F_WRITE_NR = const(0x0004)
_F_WRITE = const(0x0008)
_F_NOTIFY = const(0x0010)
_RXBUF = const(128)  # bytes of host writes held between two passes (a request is < 100)

def setup(link):
    ble = link.ble
    ble.active(True)
    try:
        # LE Secure Connections ("Just Works": the board has no display or keys) for link-layer
        # encryption where the port and the host support pairing; no bonding (nothing to store).
        ble.config(mtu=247, le_secure=True, mitm=False, bond=False, io=3)
    except (ValueError, OSError):
        ble.config(mtu=247)
    ble.irq(link.irq)  # (bound once, here)
    u = bluetooth.UUID
    nus = "6E40000%d-B5A3-F393-E0A9-E50E24DCCA9E"  # the Nordic UART Service (locals: no names)
    ((link.tx_h, link.rx_h),) = ble.gatts_register_services((
        (u(nus % 1), ((u(nus % 3), _F_NOTIFY), (u(nus % 2), _F_WRITE | _F_WRITE_NR))),))
    ble.gatts_set_buffer(link.rx_h, _RXBUF, True)
    advertise(link)


def advertise(link):
    """Advertise the service, the device id (manufacturer data 0xFFFF, 6 bytes) and, in the
    scan response, the board's name (CONFIG `name`)."""
    cfg = link.app.cfg
    try:
        uid = binascii.unhexlify(cfg["device_id"])[:6]
    except ValueError:
        uid = b""
    name = cfg["name"].encode()[:29]
    # flags, the service UUID (128 bits, little endian), manufacturer data 0xFFFF + device id
    adv = (b"\x02\x01\x06\x11\x07\x9e\xca\xdc\x24\x0e\xe5\xa9\xe0\x93\xf3\xa3\xb5\x01\x00\x40\x6e" +
           bytes((len(uid) + 3, 0xFF, 0xFF, 0xFF)) + uid)
    link.ble.gap_advertise(cfg["ble_adv_ms"] * 1000, adv,
                           resp_data=bytes((len(name) + 1, 0x09)) + name)


def stop(link):
    ble = link.ble
    if link.conn >= 0:
        ble.gap_disconnect(link.conn)
    ble.gap_advertise(None)
    ble.active(False)
    link.conn = -1
    left(link)


def connection(link):
    """A host connected or left (blelink.irq set `changed`)."""
    link.end()
    link.n = 0  # a partial frame from the previous host is not this one's
    link.cur = None
    link.sn = 0
    link.full = 0
    if link.conn >= 0:
        ble = link.ble
        try:
            ble.gattc_exchange_mtu(link.conn)  # ask for 247; a host may keep 23
        except OSError:
            pass
        try:
            ble.gap_pair(link.conn)  # link-layer encryption, where host and port can
        except (OSError, AttributeError):
            pass
        return
    left(link)
    link.ble.gap_advertise(link.app.cfg["ble_adv_ms"] * 1000)  # the same data as before


def left(link):
    # The host's raw stream and log download end with it.
    app = link.app
    if app.stream_link is link:
        app.stream_mask = 0
    x = app.log.xfer
    if x is not None and x.link is link:
        import eventlog

        x.stop()
        eventlog.unload("logxfer")

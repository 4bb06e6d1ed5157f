# The app's answers to host requests (PING, CONFIG_GET, STREAM, TIME, MARK, PAIR; HELLO_REQ,
# CONFIG_SET and the LOG requests: App.handle). Requests are rare next to samples, so this code
# is not resident: App.handle imports it and App.step drops it from sys.modules at the end of
# the pass (about 2 KB of a 64 KB heap). Functions take the App as their first argument.

import myoproto as mp

REQUESTS = (mp.HELLO_REQ, mp.PING, mp.CONFIG_GET, mp.CONFIG_SET, mp.STREAM_START, mp.STREAM_STOP,
            mp.LOG_READ, mp.LOG_ERASE, mp.TIME_SET, mp.MARK, mp.PAIR, mp.UNPAIR, mp.AUTH_START,
            mp.AUTH_PROVE)


def handle(app, msg):
    # (an OSError is answered by App.handle: NACK E_STORAGE)
    t = msg.type
    f = msg.fields
    link = app.link
    if t == mp.PING:
        link.send(mp.PONG, {"ref": msg.seq, "nonce": f["nonce"]})
    elif t == mp.CONFIG_GET:
        config_get(app, msg.seq, f["key"])
    elif t == mp.STREAM_START:
        stream_start(app, msg.seq, f["channels"])
    elif t == mp.STREAM_STOP:
        app.stream_mask = 0
        link.ack(msg.seq, t)
    elif t == mp.TIME_SET:
        fields = {"ref": msg.seq, "boot_id": app.boot_id,
                  "sample_index": app.ring.write_index & 0xFFFFFFFF, "fs": app.fs,
                  "unix_ms": f["unix_ms"],
                  "dropped": app.dropped + getattr(app.hal, "dropped", 0)}
        app.log.add(mp.TIME, fields)
        link.send(mp.TIME, fields)
    elif t == mp.MARK:
        link.ack(msg.seq, t)
        app.mark(mp.MARK_HOST, f["sample_index"])
    elif t == mp.PAIR or t == mp.UNPAIR:
        pair(app, msg)  # over USB only: the BLE link refuses both (blectl.py)
    elif t == mp.AUTH_START or t == mp.AUTH_PROVE:
        link.nack(msg.seq, t, mp.E_UNSUPPORTED, "the owner's handshake is for BLE; USB needs none")
    elif t in mp.SCHEMA and t not in REQUESTS:
        pass  # a device-to-host type sent to us: not a request, nothing to answer
    else:
        link.nack(msg.seq, t, mp.E_UNKNOWN_TYPE, "unknown message type 0x%02x" % t)


def config_get(app, ref, key):
    link = app.link
    cfg = app.cfg
    if key == "":
        for k in cfg.keys():
            link.send(mp.CONFIG_VALUE, {"ref": ref, "key": k, "value": cfg[k]})
    elif key in cfg.values:
        link.send(mp.CONFIG_VALUE, {"ref": ref, "key": key, "value": cfg[key]})
    else:
        link.nack(ref, mp.CONFIG_GET, mp.E_UNKNOWN_KEY, "unknown key %s" % key)
        return
    link.ack(ref, mp.CONFIG_GET)


def stream_start(app, ref, mask):
    if mask == 0 or mask >> app.channels:
        app.link.nack(ref, mp.STREAM_START, mp.E_BAD_VALUE,
                      "channel mask 0x%x: this device samples %d channel(s)"
                      % (mask, app.channels))
        return
    # Detection restarts at the first streamed sample, so the host can re-run the same
    # detector on the raw stream and must get the device's events bit for bit.
    for d in app.detectors:
        d.reset()
    app.stream_pos = app.pos
    app.stream_mask = mask
    app.stream_link = app.link  # SAMPLES go to the host that asked
    app.link.ack(ref, mp.STREAM_START)
    started = getattr(app.hal, "stream_started", None)  # the virtual board's, see hal_sim
    if started:
        started()


def pair(app, msg):
    """PAIR stores the owner key the host made (SPEC section 13), replacing any earlier one: a
    lost or retired host is locked out by pairing the board with its new one. UNPAIR deletes it.
    Either ends the BLE session in progress."""
    import os

    path = app.hal.flash_dir + "/owner.key"
    if msg.type == mp.PAIR:
        with open(path + ".tmp", "wb") as f:
            f.write(msg.fields["key"])
        os.rename(path + ".tmp", path)  # atomic on littlefs: the old key or the new, never half
    else:
        try:
            os.remove(path)
        except OSError:
            pass  # no key: nothing to do
    ble = app.ble
    if ble is not None:
        ble.session = None
        ble.hs = None
        ble.fails = 0
    app.link.ack(msg.seq, msg.type)

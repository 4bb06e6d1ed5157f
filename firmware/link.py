# The device end of the serial link: bytes in -> requests, frames out -> bytes.
#
# Unlike the host's StreamDecoder this keeps what it can of a frame that fails to decode: when
# the CRC is good but the version or the payload is not, the sender still gets a NACK naming
# its seq and type. Frames with a bad CRC carry nothing trustworthy and are only counted.

import myoproto as mp


class DeviceLink:
    rx = None  # the read buffer (the serial link's); a class default keeps BleLink's dict small

    def __init__(self, hal, rx=64):
        self.hal = hal
        if rx:
            self.rx = bytearray(rx)
        self.frame = bytearray(mp.MAX_WIRE)
        self.n = 0
        self.overrun = False
        self.tx_seq = 0  # frame counter; EVENT and MARK carry their record seq instead
        self.frames_in = 0
        self.crc_errors = 0
        self.bad_frames = 0

    def poll(self, handle):
        """Read what has arrived and call handle(msg) for each good request (malformed ones
        are answered with NACK here). True if any bytes came in."""
        n = self.hal.serial_read(self.rx)
        if not n:
            return False
        self.feed(self.rx, n, handle)
        return True

    def feed(self, data, n, handle):
        """Reassemble frames from data[:n] (the BLE link feeds its writes here too)."""
        frame = self.frame
        for k in range(n):
            b = data[k]
            if b:
                if self.n < mp.MAX_WIRE - 1:
                    frame[self.n] = b
                    self.n += 1
                else:
                    self.overrun = True
                continue
            m = self.n
            self.n = 0
            if self.overrun:
                self.overrun = False
                self.bad_frames += 1
                continue
            if m:
                body = self._body(frame[:m])
                if body is not None:
                    self.deliver(body, handle)

    def _body(self, raw):
        """The frame's body if its COBS, length and CRC are right, else None (counted)."""
        try:
            body = mp.cobs_decode(raw)
        except mp.CodecError:
            self.bad_frames += 1
            return None
        m = len(body)
        if m < mp.HEADER_LEN + mp.CRC_LEN or m > mp.MAX_BODY:
            self.bad_frames += 1
            return None
        if mp.crc16(body, 0, m - 2) != body[m - 2] | (body[m - 1] << 8):
            self.crc_errors += 1
            return None
        return body

    def deliver(self, body, handle):
        msg_type = body[1]
        seq = body[2] | (body[3] << 8) | (body[4] << 16) | (body[5] << 24)
        if body[0] != mp.VERSION:
            self.bad_frames += 1
            self.nack(seq, msg_type, mp.E_BAD_VERSION, "protocol version %d not supported" % body[0])
            return
        try:
            msg = mp.decode_body(body)
        except mp.CodecError as e:
            self.bad_frames += 1
            self.nack(seq, msg_type, mp.E_BAD_PAYLOAD, str(e))
            return
        self.frames_in += 1
        handle(msg)

    def _next_seq(self):
        # Called per SAMPLES frame. On a 32-bit port (the ESP32) 0xFFFFFFFF is a big int, and
        # masking with it allocates even when the result is small (measured on a 32-bit unix
        # build): mask only past 2**30 - 1, the largest small int there (after 10**9 frames).
        s = self.tx_seq
        self.tx_seq = s + 1 if s < 0x3FFFFFFF else (s + 1) & 0xFFFFFFFF
        return s

    def send(self, msg_type, fields):
        """Encode and send one frame (allocates: for answers and STATUS, not per sample)."""
        self.hal.serial_write(mp.encode(msg_type, self._next_seq(), fields))

    def ack(self, ref, ref_type):
        self.send(mp.ACK, {"ref": ref, "ref_type": ref_type})

    def nack(self, ref, ref_type, code, reason):
        self.send(mp.NACK, {"ref": ref, "ref_type": ref_type, "code": code,
                            "reason": reason[:120]})

# A bench stand-in for the ESP32's `machine` module (ADC, Pin, Timer, SPI, unique_id, reset) for
# running hal_esp32.py, ads1x9x.py and main.py in the unix port. Importing it installs it as
# `machine`. Only `machine` is stood in for: everything else is the real firmware.

import sys

ID_REG = [0x73]  # what the ADS ID register reads (ADS1292R); tests may change it

class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 3

    def __init__(self, pin, atten=None):
        self.pin = pin
        self.atten = atten
        self.v = 40000
        self.w = None

    def read_u16(self):
        return self.v

    def read_uv(self):
        return 1850000

    def width(self, w):
        self.w = w


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 2
    PULL_DOWN = 3
    IRQ_FALLING = 2

    def __init__(self, n, mode=-1, pull=-1, value=None):
        self.n = n
        self.mode = mode
        self.pull = pull
        self.v = 1 if value is None else value
        self.handler = None

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v

    def __call__(self, v=None):
        return self.value(v)

    def irq(self, trigger=None, handler=None):
        self.handler = handler


class Timer:
    PERIODIC = 1

    def __init__(self, n):
        self.n = n
        self.callback = None

    def init(self, mode=0, freq=0, callback=None):
        self.freq = freq
        self.callback = callback

    def deinit(self):
        self.callback = None


class SPI:
    def __init__(self, id, baudrate=0, polarity=0, phase=0, sck=None, mosi=None, miso=None):
        self.writes = []
        self.data = bytearray(27)

    def write(self, b):
        self.writes.append(bytes(b))

    def write_readinto(self, w, r):
        self.writes.append(bytes(w))
        r[2] = ID_REG[0]

    def readinto(self, buf):
        d = self.data
        for i in range(len(buf)):
            buf[i] = d[i]


def unique_id():
    return b"\x24\x0a\xc4\x01\x02\x03"


def reset():
    raise SystemExit(3)


# This module is `machine`: no wrapper class, whose type object and dict would cost the heap
# tests (tests/mp/heap_esp32.py) about 400 bytes that the chip's built-in module does not.
sys.modules["machine"] = sys.modules[__name__]

"""Board definitions (`boards/*.json`): load, validate, list.

A board file says which chip, which front end, which pins and how to turn a stored sample into
microvolts. The same file is deployed to the device (`board.json`) and read by `hal_esp32`, so
every check that would otherwise fail at boot on the chip fails here first, naming the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CHIPS = ("esp32", "esp32s3", "esp32c3")
ANALOG_FRONT_ENDS = ("myoware2-raw", "myoware2-env", "bioamp-exg-pill", "ad8232")
SPI_FRONT_ENDS = {"ads1292": 2, "ads1299": 8}  # front end -> channels the chip has
FRONT_ENDS = ANALOG_FRONT_ENDS + tuple(SPI_FRONT_ENDS)
MAX_CHANNELS = 4  # the firmware's limit
FS_RANGE = (500, 2000)

# ADC1 GPIOs: ADC2 cannot be read while Wi-Fi/BLE is on, so every analog input must be here.
ADC1 = {"esp32": range(32, 40), "esp32s3": range(1, 11), "esp32c3": range(0, 5)}
# GPIOs that exist and are not wired to the SPI flash (or PSRAM on the S3 modules).
GPIOS = {
    "esp32": [p for p in range(40) if p not in (20, 24, 28, 29, 30, 31) and not 6 <= p <= 11],
    "esp32s3": [p for p in range(49) if not 22 <= p <= 32],
    "esp32c3": [p for p in range(22) if not 12 <= p <= 17],
}
INPUT_ONLY = {"esp32": range(34, 40), "esp32s3": range(0), "esp32c3": range(0)}
ATTEN_DB = (0, 2.5, 6, 11)
WIDTH_BITS = {"esp32": (9, 10, 11, 12), "esp32s3": (12,), "esp32c3": (12,)}
ADS_GAINS = {"ads1292": (1, 2, 3, 4, 6, 8, 12), "ads1299": (1, 2, 4, 6, 8, 12, 24)}

TOP_KEYS = {"name", "title", "chip", "front_end", "adc", "spi", "button", "led", "battery",
            "uv_per_count", "fs", "channels", "max_channels", "wiring", "notes"}
REQUIRED = ("name", "title", "chip", "front_end", "uv_per_count", "fs", "channels")
ADC_KEYS = {"pins", "atten_db", "width_bits"}
SPI_KEYS = {"id", "sck", "mosi", "miso", "cs", "drdy", "start", "pwdn", "baud", "gain", "shift"}
SPI_REQUIRED = ("id", "sck", "mosi", "miso", "cs", "drdy", "gain", "shift")
BUTTON_KEYS = {"pin", "active_low"}
LED_KEYS = {"pin", "active_low", "kind"}
BATTERY_KEYS = {"pin", "r_top", "r_bottom"}


class BoardError(ValueError):
    """A board file that does not validate; the message names the file and the field."""


@dataclass
class Board:
    name: str
    title: str
    chip: str
    front_end: str
    fs: int
    channels: int
    max_channels: int
    uv_per_count: float
    path: Path
    data: dict

    @property
    def march(self) -> str | None:
        """mpy-cross architecture for this chip (None: the host's, for the virtual board)."""
        return {"esp32": "xtensawin", "esp32s3": "xtensawin", "esp32c3": "rv32imc"}.get(self.chip)

    @property
    def virtual(self) -> bool:
        return self.chip == "virtual"

    def wiring_rows(self) -> list[tuple[str, str]]:
        return [tuple(r) for r in self.data.get("wiring", [])]


def boards_dir() -> Path:
    """The bundled `boards/` folder (shipped in the package as myotwitch.boarddefs)."""
    try:
        import myotwitch.boarddefs

        return Path(list(myotwitch.boarddefs.__path__)[0])
    except ImportError:  # running from a source tree without a (re)install
        return Path(__file__).resolve().parents[2] / "boards"


def _fail(where, field, why):
    raise BoardError("%s: %s: %s" % (where, field, why))


def _check_keys(where, prefix, obj, allowed, required=()):
    if not isinstance(obj, dict):
        _fail(where, prefix, "must be an object")
    for k in obj:
        if k not in allowed:
            _fail(where, (prefix + "." if prefix else "") + k,
                  "unknown key (allowed: %s)" % ", ".join(sorted(allowed)))
    for k in required:
        if k not in obj:
            _fail(where, (prefix + "." if prefix else "") + k, "missing")


def _int(where, field, v, lo=None, hi=None):
    if not isinstance(v, int) or isinstance(v, bool):
        _fail(where, field, "must be an integer, not %r" % (v,))
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        _fail(where, field, "%d is outside %s..%s" % (v, lo, hi))
    return v


def _choice(where, field, v, choices, what=""):
    """One of `choices`, of the same JSON type (12.0 is not 12, false is not 0)."""
    same = [c for c in choices if type(c) is type(v) and c == v]
    if isinstance(v, bool) or not same:
        _fail(where, field, "%s is not one of %s%s" % (_show(v), ", ".join(map(str, choices)), what))
    return v


def _show(v) -> str:
    """A value from the file for a message: JSON-like, and short."""
    text = json.dumps(v) if isinstance(v, (bool, type(None))) else repr(v)
    return text if len(text) <= 80 else text[:80] + "... (cut)"


def _pin(where, field, v, chip, output=False, adc1=False):
    _int(where, field, v)
    if v not in GPIOS[chip]:
        _fail(where, field, "GPIO%d is not a usable GPIO on %s (missing, or wired to flash)"
              % (v, chip))
    if output and v in INPUT_ONLY[chip]:
        _fail(where, field, "GPIO%d is input-only on %s and cannot drive an output" % (v, chip))
    if adc1 and v not in ADC1[chip]:
        r = ADC1[chip]
        _fail(where, field, "GPIO%d is not an ADC1 pin on %s (ADC1 is GPIO%d-%d; ADC2 cannot be "
                            "read while the radio is on)" % (v, chip, r.start, r.stop - 1))
    return v


def validate(data, where="board") -> Board:
    """Check one board definition; return it as a Board or raise BoardError naming the field."""
    _check_keys(where, "", data, TOP_KEYS, REQUIRED)
    name = data["name"]
    if not isinstance(name, str) or not name or not name.replace("-", "").isalnum():
        _fail(where, "name", "must be a non-empty name of letters, digits and '-'")
    chip = data["chip"]
    fe = data["front_end"]
    for field, v in (("chip", chip), ("front_end", fe)):
        if not isinstance(v, str):
            _fail(where, field, "must be a name (a string), not %s" % _show(v))
    virtual = chip == "virtual"
    if virtual:
        if fe != "recording":
            _fail(where, "front_end", "the virtual chip plays a recording: use 'recording'")
    else:
        if chip not in CHIPS:
            _fail(where, "chip", "%r is not one of %s" % (chip, ", ".join(CHIPS)))
        if fe not in FRONT_ENDS:
            _fail(where, "front_end", "%r is not one of %s" % (fe, ", ".join(FRONT_ENDS)))
    fs = _int(where, "fs", data["fs"], *FS_RANGE)
    fe_channels = SPI_FRONT_ENDS.get(fe, MAX_CHANNELS)
    max_ch = min(fe_channels, MAX_CHANNELS)
    used = []  # (field, pin) for the duplicate check

    if fe in ANALOG_FRONT_ENDS:
        if "spi" in data:
            _fail(where, "spi", "an analog front end (%s) takes no SPI block" % fe)
        if "adc" not in data:
            _fail(where, "adc", "missing (an analog front end needs its ADC pins)")
        adc = data["adc"]
        _check_keys(where, "adc", adc, ADC_KEYS, ("pins", "atten_db", "width_bits"))
        pins = adc["pins"]
        if not isinstance(pins, list) or not 1 <= len(pins) <= MAX_CHANNELS:
            _fail(where, "adc.pins", "must be a list of 1..%d pins" % MAX_CHANNELS)
        for i, p in enumerate(pins):
            used.append(("adc.pins[%d]" % i, _pin(where, "adc.pins[%d]" % i, p, chip, adc1=True)))
        _choice(where, "adc.atten_db", adc["atten_db"], ATTEN_DB, " (dB)")
        _choice(where, "adc.width_bits", adc["width_bits"], WIDTH_BITS[chip],
                " (what %s supports)" % chip)
        max_ch = len(pins)
    elif fe in SPI_FRONT_ENDS:
        if "adc" in data:
            _fail(where, "adc", "%s is an SPI front end: it takes no adc block" % fe)
        if "spi" not in data:
            _fail(where, "spi", "missing (%s needs its SPI pins)" % fe)
        spi = data["spi"]
        _check_keys(where, "spi", spi, SPI_KEYS, SPI_REQUIRED)
        _int(where, "spi.id", spi["id"], 1, 2)
        for k in ("sck", "mosi", "cs", "start", "pwdn"):
            if k in spi:
                used.append(("spi." + k, _pin(where, "spi." + k, spi[k], chip, output=True)))
        for k in ("miso", "drdy"):
            used.append(("spi." + k, _pin(where, "spi." + k, spi[k], chip)))
        _int(where, "spi.baud", spi.get("baud", 1000000), 100000, 20000000)
        _choice(where, "spi.gain", spi["gain"], ADS_GAINS[fe], " (the %s PGA gains)" % fe)
        _int(where, "spi.shift", spi["shift"], 0, 8)
    if "max_channels" in data:
        max_ch = _int(where, "max_channels", data["max_channels"], 1, max_ch)
    channels = _int(where, "channels", data["channels"], 1, max_ch)

    for key, output in (("button", False), ("led", True)):
        v = data.get(key)
        if v is None:
            continue
        if virtual:
            _fail(where, key, "the virtual board has no pins: use null")
        _check_keys(where, key, v, BUTTON_KEYS if key == "button" else LED_KEYS, ("pin",))
        used.append((key + ".pin", _pin(where, key + ".pin", v["pin"], chip, output=output)))
        if not isinstance(v.get("active_low", False), bool):
            _fail(where, key + ".active_low", "must be true or false")
        if key == "led" and v.get("kind", "gpio") not in ("gpio", "ws2812"):
            _fail(where, "led.kind", "%r is not 'gpio' or 'ws2812'" % v["kind"])
    bat = data.get("battery")
    if bat is not None:
        if virtual:
            _fail(where, "battery", "the virtual board has no battery: use null")
        _check_keys(where, "battery", bat, BATTERY_KEYS, ("pin", "r_top", "r_bottom"))
        used.append(("battery.pin", _pin(where, "battery.pin", bat["pin"], chip, adc1=True)))
        _int(where, "battery.r_top", bat["r_top"], 0, 10_000_000)
        _int(where, "battery.r_bottom", bat["r_bottom"], 1, 10_000_000)
    seen = {}
    for field, p in used:
        if p in seen:
            _fail(where, field, "GPIO%d is already used by %s" % (p, seen[p]))
        seen[p] = field

    upc = data["uv_per_count"]
    if not isinstance(upc, (int, float)) or isinstance(upc, bool) or not 0 < upc < 1e9:
        _fail(where, "uv_per_count", "must be a number of microvolts per count, > 0 and "
                                     "finite, not %s" % _show(upc))
    wiring = data.get("wiring", [])
    if not isinstance(wiring, list) or not all(
            isinstance(r, list) and len(r) == 2 and all(isinstance(c, str) for c in r)
            for r in wiring):
        _fail(where, "wiring", "must be a list of [from, to] string pairs")
    if not virtual and not wiring:
        _fail(where, "wiring", "a hardware board needs its wiring table")
    for k in ("title", "notes"):
        if k in data and not isinstance(data[k], str):
            _fail(where, k, "must be a string")
    return Board(name=name, title=data["title"], chip=chip, front_end=fe, fs=fs,
                 channels=channels, max_channels=max_ch, uv_per_count=float(upc),
                 path=Path(where), data=data)


def load_file(path) -> Board:
    from myotwitch import jsonfile

    path = Path(path)
    data = jsonfile.load(path, BoardError, "a board file")
    board = validate(data, str(path))
    if board.name != path.stem:
        _fail(str(path), "name", "%r must match the file name %r" % (board.name, path.stem))
    return board


def load_all(directory=None) -> list[Board]:
    d = Path(directory) if directory else boards_dir()
    return [load_file(p) for p in sorted(d.glob("*.json"))]


def get(name_or_path) -> Board:
    """A bundled board by name, or a board file by path."""
    p = Path(str(name_or_path))
    if p.suffix == ".json" or p.exists():
        return load_file(p)
    f = boards_dir() / (str(name_or_path) + ".json")
    if not f.exists():
        names = ", ".join(b.stem for b in sorted(boards_dir().glob("*.json")))
        raise BoardError("unknown board %r (bundled boards: %s; or give a path to a board file)"
                         % (str(name_or_path), names))
    return load_file(f)


def uv_scale(board_name) -> tuple[float, str]:
    """(microvolts per ADC count, "uV") of a bundled board a device reports by name, else
    (1.0, "count"): values stay counts where the front end is unknown."""
    name = str(board_name or "")
    if name.replace("-", "").replace("_", "").isalnum():
        f = boards_dir() / (name + ".json")
        if f.exists():
            try:
                return float(load_file(f).uv_per_count), "uV"
            except BoardError:
                pass
    return 1.0, "count"


def wiring_markdown(board: Board) -> str:
    """The board's wiring as a Markdown table (for the README and `myotwitch boards --wiring`)."""
    lines = ["### %s (`%s`)" % (board.title, board.name), "",
             "| from | to |", "| --- | --- |"]
    lines += ["| %s | %s |" % r for r in board.wiring_rows()]
    if board.data.get("notes"):
        lines += ["", board.data["notes"]]
    return "\n".join(lines)

"""Board definitions: every bundled file validates, and a bad one fails naming its field."""

import copy
import json

import pytest
from click.testing import CliRunner

from myotwitch.boards import ADC1, BoardError, boards_dir, get, load_all, load_file, validate
from myotwitch.cli import main

REQUIRED_BOARDS = {"devkitc-myoware2", "myoware2-wireless-shield", "s3-devkitc-bioamp-exg-pill",
                   "xiao-c3-ad8232", "devkitc-ads1292r", "virtual"}


def test_bundled_boards_validate():
    found = {b.name: b for b in load_all()}
    assert REQUIRED_BOARDS <= set(found)
    assert {b.chip for b in found.values()} >= {"esp32", "esp32s3", "esp32c3", "virtual"}
    for b in found.values():
        if b.virtual:
            continue
        assert b.wiring_rows(), b.name
        for p in b.data.get("adc", {}).get("pins", []):
            assert p in ADC1[b.chip]
    assert found["xiao-c3-ad8232"].march == "rv32imc"
    assert found["s3-devkitc-bioamp-exg-pill"].march == "xtensawin"
    assert found["devkitc-ads1292r"].max_channels == 2
    v = found["virtual"]
    assert (v.fs, v.channels, v.max_channels) == (1000, 1, 4)


def test_boards_ship_with_the_package():
    assert (boards_dir() / "virtual.json").exists()
    import myotwitch.boarddefs  # the packaged name of boards/

    assert myotwitch.boarddefs.__path__


def _base():
    return json.loads((boards_dir() / "devkitc-myoware2.json").read_text())


@pytest.mark.parametrize("change, field, words", [
    (lambda d: d["adc"].__setitem__("pins", [25]), "adc.pins[0]", "not an ADC1 pin on esp32"),
    (lambda d: d["adc"].__setitem__("pinz", [36]), "adc.pinz", "unknown key"),
    (lambda d: d.__setitem__("colour", "red"), "colour", "unknown key"),
    (lambda d: d["led"].__setitem__("pin", 36), "led.pin", "input-only"),
    (lambda d: d["led"].__setitem__("pin", 7), "led.pin", "flash"),
    (lambda d: d["button"].__setitem__("pin", 36.5), "button.pin", "integer"),
    (lambda d: d.__setitem__("chip", "esp8266"), "chip", "not one of"),
    (lambda d: d.__setitem__("front_end", "myoware1"), "front_end", "not one of"),
    (lambda d: d.__setitem__("fs", 4000), "fs", "500..2000"),
    (lambda d: d.__setitem__("channels", 2), "channels", "outside 1..1"),
    (lambda d: d["adc"].__setitem__("atten_db", 12), "adc.atten_db", "not one of"),
    (lambda d: d.__setitem__("battery", {"pin": 36, "r_top": 1, "r_bottom": 1}),
     "battery.pin", "already used by adc.pins[0]"),
    (lambda d: d.pop("uv_per_count"), "uv_per_count", "missing"),
    (lambda d: d.__setitem__("wiring", [["a"]]), "wiring", "pairs"),
])
def test_bad_board_names_the_field(change, field, words):
    d = _base()
    change(d)
    with pytest.raises(BoardError) as e:
        validate(d, "x.json")
    msg = str(e.value)
    assert msg.startswith("x.json: %s: " % field), msg
    assert words in msg


def test_chip_specific_adc1_pins():
    d = json.loads((boards_dir() / "xiao-c3-ad8232.json").read_text())
    bad = copy.deepcopy(d)
    bad["adc"]["pins"] = [5]  # A3 on the XIAO: ADC2
    with pytest.raises(BoardError, match=r"adc.pins\[0\]: GPIO5 is not an ADC1 pin on esp32c3"):
        validate(bad)
    s3 = json.loads((boards_dir() / "s3-devkitc-bioamp-exg-pill.json").read_text())
    s3["adc"]["pins"] = [11]
    with pytest.raises(BoardError, match="GPIO1-10"):
        validate(s3)
    spi = json.loads((boards_dir() / "devkitc-ads1292r.json").read_text())
    spi["spi"]["gain"] = 24  # an ADS1299 gain
    with pytest.raises(BoardError, match="spi.gain"):
        validate(spi)
    spi["spi"]["gain"] = 6
    spi["channels"] = 3
    with pytest.raises(BoardError, match="channels"):
        validate(spi)


def test_board_file_errors(tmp_path):
    p = tmp_path / "mine.json"
    p.write_text("{not json")
    with pytest.raises(BoardError, match="mine.json: not valid JSON"):
        load_file(p)
    d = _base()
    p.write_text(json.dumps(d))
    with pytest.raises(BoardError, match="name: 'devkitc-myoware2' must match the file name"):
        load_file(p)
    with pytest.raises(BoardError, match="unknown board 'nope'.*virtual"):
        get("nope")


def test_cli_boards_lists_and_checks(tmp_path):
    r = CliRunner().invoke(main, ["boards"])
    assert r.exit_code == 0, r.output
    for name in REQUIRED_BOARDS:
        assert name in r.output
    assert "ADC GPIO36" in r.output and "SPI CS5 DRDY4" in r.output
    r = CliRunner().invoke(main, ["boards", "--json"])
    assert {json.loads(line)["name"] for line in r.output.splitlines()} >= REQUIRED_BOARDS
    r = CliRunner().invoke(main, ["boards", "--wiring"])
    assert "| MyoWare 2.0 RAW | GPIO36 (SENSOR_VP, ADC1_CH0) |" in r.output
    bad = _base()
    bad["name"] = "bad"
    bad["adc"]["pins"] = [4]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    r = CliRunner().invoke(main, ["boards", "--check", str(tmp_path / "bad.json")])
    assert r.exit_code == 1 and "adc.pins[0]: GPIO4 is not an ADC1 pin" in r.output  # a finding

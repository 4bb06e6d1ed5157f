"""The ESP32 hardware layer and the ADS1292 driver, run in the real MicroPython VM with a bench
stand-in for `machine` (tests/mp/esp32_bench.py): time carried by the sample index, late
callbacks filled and counted, no allocation in any sampler callback (heap locked), register
set-up per the datasheet, frames decoded into the ring, debounce, battery divider."""

import json
from pathlib import Path

import pytest

from myotwitch.boards import get
from myotwitch.build import cached_sim_build
from myotwitch.flash import device_board_json
from mpvm import run_micropython

BENCH = Path(__file__).parent / "mp" / "esp32_bench.py"


@pytest.mark.parametrize("board, checks, max_bytes", [
    ("devkitc-myoware2", ["ok timer", "ok button", "ok led", "ok break", "ok app"], 4096),
    # includes the driver module itself, imported by the HAL for SPI front ends
    ("devkitc-ads1292r", ["ok ads1292", "ok decimation", "ok battery"], 12288),
])
def test_hal_esp32_on_the_bench(board, checks, max_bytes, tmp_path):
    bf = tmp_path / "board.json"
    bf.write_bytes(device_board_json(get(board)))  # what `myotwitch flash` deploys
    res = run_micropython(BENCH, path=[cached_sim_build().out_dir, BENCH.parent],
                          args=[bf, tmp_path / "data"],
                          stdin=b"\x01\x02\x00" + b"\x03" * 300 + b"\x05",
                          heapsize="128k").check()
    for c in checks:
        assert c in res.stdout, res.stdout
    assert res.stdout.strip().endswith("done")
    hal_bytes = int(res.stdout.split("hal_bytes")[1].split()[0])
    print(board, "HAL bytes on the x64 heap:", hal_bytes)
    assert hal_bytes < max_bytes, hal_bytes  # the HAL's own state stays small


def test_ads1299_front_end_on_the_bench(tmp_path):
    d = dict(get("devkitc-ads1292r").data, name="ads1299-test", front_end="ads1299")
    d["spi"] = dict(d["spi"], gain=24, shift=8)
    from myotwitch.boards import validate

    validate(d)
    bf = tmp_path / "board.json"
    bf.write_text(json.dumps(d))
    res = run_micropython(BENCH, path=[cached_sim_build().out_dir, BENCH.parent],
                          args=[bf, tmp_path / "data", 0x3E]).check()
    assert "ok ads1299" in res.stdout and res.stdout.strip().endswith("done")

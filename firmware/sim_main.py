# Entry point of the virtual board: `micropython sim_main.py --samples FILE ...`, started by the
# host's `myotwitch sim`. stdin/stdout are the serial link, so every diagnostic goes to stderr.

import sys


def parse(argv):
    opts = {"samples": None, "file_channels": 1, "speed_milli": 1000, "once": False,
            "flash": "flash.img", "board": "virtual", "max_channels": 4, "presses": (),
            "flash_blocks": 256, "defaults": None, "hold": False, "ble": 0}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--once", "--hold"):
            opts[a[2:]] = True
            i += 1
            continue
        if i + 1 >= len(argv):
            raise ValueError("missing value after %s" % a)
        v = argv[i + 1]
        i += 2
        if a == "--samples":
            opts["samples"] = v
        elif a == "--file-channels":
            opts["file_channels"] = int(v)
        elif a == "--speed-milli":
            opts["speed_milli"] = int(v)
        elif a == "--flash":
            opts["flash"] = v
        elif a == "--flash-blocks":
            opts["flash_blocks"] = int(v)
        elif a == "--board":
            opts["board"] = v
        elif a == "--max-channels":
            opts["max_channels"] = int(v)
        elif a == "--presses":
            opts["presses"] = [int(x) for x in v.split(",") if x]
        elif a == "--ble":
            opts["ble"] = int(v)  # the simulated radio's TCP port on 127.0.0.1
        elif a == "--fs":
            opts["defaults"] = {"fs": int(v)}
        else:
            raise ValueError("unknown option %s" % a)
    if not opts["samples"]:
        raise ValueError("--samples FILE is required")
    return opts


def main():
    try:
        import micropython

        micropython.kbd_intr(-1)  # 0x03 is data on this link, not Ctrl-C
        import gc

        import hal_sim

        hal = hal_sim.Hal(**parse(sys.argv[1:]))
        gc.collect()  # the heap is 64 KB: free the loader's leftovers before the next import
        import app

        app.run(hal)
    except KeyboardInterrupt:
        pass
    except Exception as e:
        # Uncaught tracebacks go to stdout in the unix port, which is the serial link here.
        sys.print_exception(e, sys.stderr)
        sys.exit(1)


main()

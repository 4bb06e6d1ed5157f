"""`make bench`: run every bench/bench_*.py module's main() in order, in one process."""

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv=None):
    only = set(argv if argv is not None else sys.argv[1:])
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    failed = []
    for name in names:
        if only and name not in only and name[len("bench_"):] not in only:
            continue
        print(f"\n=== {name} " + "=" * max(0, 60 - len(name)), flush=True)
        t0 = time.perf_counter()
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception as e:  # one broken benchmark must not hide the others
            failed.append(name)
            print(f"!!! {name} failed: {type(e).__name__}: {e}")
        print(f"--- {name} took {time.perf_counter() - t0:.1f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

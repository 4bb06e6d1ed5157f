"""Fault injection on the virtual board: `make faults` (also part of `make bench`).

    .venv/bin/python -m bench.bench_faults [SCALE]

- power cuts: the event log in MicroPython on a littlefs image whose block device dies at a
  random block write (tests/mp/powercut.py, hundreds of trials per process, rotation and
  erases included); after every virtual reboot each record reported durable must be there;
- link faults: pull over a proxy that drops, corrupts, duplicates, reorders and truncates the
  device's frames, and pulls the cable mid-transfer; then a clean-up re-run;
- host crashes: `myotwitch pull` SIGKILLed at random moments, then a re-run;
- two boards of one kind (two flash images, one board name) pulled in turn with --erase;
- another program locking the store (and the disk filling up) during `record --raw`;
- `myotwitch record --raw` SIGKILLed just after an event arrived, then `pull` and `verify`.
Prints trials, records written, records lost (must be 0) and corrupt records surfaced (must be
0); raises if either is not 0.
"""

import random
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

SEEDS = (101, 102, 103, 104)
TRIALS = 250  # per seed (one MicroPython process each)


def power_cuts(tmp):
    from test_faults_powercut import powercut_trials

    tot = {}
    for seed in SEEDS:
        s = powercut_trials(Path(tmp) / ("pc%d.img" % seed), seed, TRIALS)
        for k, v in s.items():
            if k != "problems":
                tot[k] = tot.get(k, 0) + v
    print("power cuts : %d trials, %d cuts; %d records written, %d reported durable; lost %d, "
          "corrupt %d, seq repeats %d; %d seq numbers rotated out (counted), %d host erases"
          % (tot["trials"], tot["cuts"], tot["written"], tot["durable"], tot["lost"],
             tot["corrupt"], tot["repeats"], tot["dropped"], tot["erases"]))
    return tot["trials"], tot["written"], tot["lost"], tot["corrupt"] + tot["repeats"]


def _events(db, boot):
    c = sqlite3.connect(db)
    try:
        rows = c.execute("SELECT boot_id, seq, onset, duration, kind, channel, peak, area"
                         " FROM events WHERE boot_id=?", (boot,)).fetchall()
        dup = c.execute("SELECT count(*) - count(DISTINCT seq) FROM events WHERE boot_id=?",
                        (boot,)).fetchone()[0]
        return rows, dup
    finally:
        c.close()


def link_faults(tmp, rounds=4):
    from linkproxy import LinkProxy
    from myotwitch.link import Device, LinkError
    from myotwitch.pull import pull_log
    from myotwitch.sim import SimBoard
    from myotwitch.simlog import prefill_log
    from myotwitch.store import open_store
    from test_faults_link import flash_events, pull_killed_at_random
    from test_pull import read_log

    img = Path(tmp) / "link.img"
    boot = 0x11F11F11
    prefill_log(img, 6000, boot_id=boot)
    lost = corrupt = injected = retries = trials = 0
    with SimBoard(speed=1, flash=img) as board:
        ref = flash_events(read_log(board.port)[1])
        for r in range(rounds):
            db = Path(tmp) / ("link%d.db" % r)
            faults = dict(drop=0.01, flip=0.01, dup=0.01, reorder=0.01, cut=0.01)
            for attempt, cut in enumerate((200 + 50 * r, None)):
                trials += 1
                with LinkProxy(board.port, seed=10 * r + attempt, disconnect_after=cut,
                               **faults) as px:
                    try:
                        with Device.open(px.port) as dev, open_store(db) as store:
                            res = pull_log(dev, store, chunk_timeout=1.0)
                            retries += res.retries
                    except LinkError:
                        pass
                    injected += sum(px.counts.values())
            rows, dup = _events(db, boot)
            corrupt += dup + len(set(rows) - ref)
            lost += len(ref - set(rows))
    print("link faults: %d pulls (%d with the cable pulled mid-transfer), %d faults injected, "
          "%d re-reads; %d events per store: lost %d, corrupt or duplicate stored %d"
          % (trials, trials // 2, injected, retries, len(ref), lost, corrupt))
    return trials, len(ref) * rounds, lost, corrupt


def host_kills(tmp, kills=6):
    from myotwitch.sim import SimBoard
    from myotwitch.simlog import prefill_log
    from test_faults_link import flash_events, pull_killed_at_random
    from test_pull import read_log

    img = Path(tmp) / "kill.img"
    boot = 0x0DDBA11
    prefill_log(img, 50000, boot_id=boot, flash_blocks=640)
    db = Path(tmp) / "kill.db"
    exe = str(Path(sys.executable).parent / "myotwitch")
    rng = random.Random(7)
    killed = inconsistent = 0
    with SimBoard(speed=1, flash=img, flash_blocks=640) as board:
        ref = flash_events(read_log(board.port)[1])
        for _ in range(kills * 3):
            killed += pull_killed_at_random(exe, db, board.port, rng)
            if db.exists():
                c = sqlite3.connect(db)
                ok = c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                last = (c.execute("SELECT last_seq FROM log_sync").fetchone() or [-1])[0]
                c.close()
                rows, dup = _events(db, boot)
                below = {e for e in ref if e[1] <= last}
                inconsistent += (not ok) + dup + len(set(rows) - ref) + len(below - set(rows))
            if killed >= kills:
                break
        subprocess.run([exe, "--db", str(db), "pull", "--port", board.port, "-q"], check=True,
                       capture_output=True, timeout=120)
    rows, dup = _events(db, boot)
    lost = len(ref - set(rows))
    corrupt = dup + len(set(rows) - ref) + inconsistent
    print("host kills : %d SIGKILLs of `myotwitch pull` mid-download, store checked after each; "
          "%d events: lost %d, corrupt or inconsistent %d" % (killed, len(ref), lost, corrupt))
    return killed, len(ref), lost, corrupt


def same_kind_boards(tmp, seeds=(16, 17)):
    from test_devices import alternate_with_erase

    pulls = written = lost = foreign = 0
    for seed in seeds:
        d = Path(tmp) / ("kind%d" % seed)
        d.mkdir()
        _, ids, logged, stored, results = alternate_with_erase(d, rounds=3, seed=seed)
        pulls += len(results)
        for k in (0, 1):
            written += len(logged[k])
            lost += len(logged[k] - stored[k])
            foreign += len(stored[k] - logged[k])
    print("same kind  : %d pulls with --erase of two boards of one kind in turn; %d events "
          "logged: lost %d, stored under the wrong device %d" % (pulls, written, lost, foreign))
    return pulls, written, lost, foreign


def locked_store(tmp):
    from test_store_faults import record_through_faults

    trials = sent_n = lost = dup = differ = 0
    for i, (locks, duration, full_at) in enumerate((([(1.0, 3.0), (6.5, 9.0)], 7.0, 3.5),
                                                   ([(0.5, 5.5)], 6.0, None))):
        d = Path(tmp) / ("lock%d" % i)
        d.mkdir()
        sent, stored, warnings, v, res, _ = record_through_faults(d, locks, duration, full_at)
        trials += 1
        sent_n += len(sent)
        lost += len(set(sent) - set(stored)) + res.left_on_device
        dup += len(stored) - len(set(stored)) + len(set(stored) - set(sent))
        differ += v.problems
    print("locked store: %d recordings with --raw through another program's lock (and a full "
          "disk), %d events sent: lost %d, duplicate %d; verify differences %d"
          % (trials, sent_n, lost, dup, differ))
    return trials, sent_n, lost, dup + differ


def record_kills(tmp, kills=3):
    from test_store_faults import kill_record_then_pull

    in_spans = lost = disagree = recovered = 0
    for i in range(kills):
        d = Path(tmp) / ("rk%d" % i)
        d.mkdir()
        _, _, rec, in_span, attached, v = kill_record_then_pull(d, nth_event=2 + i)
        in_spans += in_span
        lost += in_span - attached
        recovered += rec
        disagree += v.exit_code != 0
    print("record kills: %d SIGKILLs of `record --raw` just after an event arrived, then pull: "
          "%d events in the sessions' spans, %d of them from the device's log only: lost %d; "
          "verify disagreed %d" % (kills, in_spans, recovered, lost, disagree))
    return kills, in_spans, lost, disagree


def main(argv=None):
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        parts = [power_cuts(tmp), link_faults(tmp), host_kills(tmp), same_kind_boards(tmp),
                 locked_store(tmp), record_kills(tmp)]
    trials = sum(p[0] for p in parts)
    written = sum(p[1] for p in parts)
    lost = sum(p[2] for p in parts)
    corrupt = sum(p[3] for p in parts)
    print("FAULTS trials %d  records written %d  records lost %d (must be 0)  corrupt surfaced %d "
          "(must be 0)" % (trials, written, lost, corrupt))
    if lost or corrupt:
        raise RuntimeError("fault injection lost or corrupted records")


if __name__ == "__main__":
    main()

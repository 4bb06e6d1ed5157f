"""The insight commands through Click's CliRunner: note, stats, plot, report, export; exit codes
and machine output as README "Machine output" says; `record --notes` on the virtual board."""

import json

import pytest
from click.testing import CliRunner

from bench.yearstore import fill
from myotwitch.cli import main
from myotwitch.sim import SimBoard
from myotwitch.store import open_store
from myotwitch.summary import HEALTH_NOTE


@pytest.fixture
def runner(monkeypatch, tmp_path):
    monkeypatch.delenv("MYOTWITCH_DB", raising=False)
    monkeypatch.setenv("MYOTWITCH_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli-insight")
    s = open_store(d / "s.db")
    truth = fill(s, days=20, events=4000, seed=8, raw_minutes=1)
    s.close()
    return d / "s.db", truth


def test_note_add_list_edit_delete(runner, tmp_path):
    db = str(tmp_path / "n.db")
    r = runner.invoke(main, ["note", "add", "--db", db, "--caffeine", "2", "--sleep", "6.5",
                             "--tag", "run", "--at", "2026-05-01T08:00", "--json", "long", "day"])
    assert r.exit_code == 0, r.output
    n = json.loads(r.output)
    assert n["factors"] == {"caffeine": 2.0, "sleep": 6.5} and n["tags"] == ["run"]
    assert n["text"] == "long day" and n["start"].startswith("2026-05-01T08:00:00.000")
    assert n["end"] is None
    r = runner.invoke(main, ["--db", db, "note", "add", "--from", "2026-05-01T18:00", "--to",
                             "2026-05-01T19:30", "--exercise", "90"])
    assert r.exit_code == 0 and "exercise 90 min" in r.output
    r = runner.invoke(main, ["--db", db, "note", "list", "--json"])
    rows = [json.loads(x) for x in r.output.splitlines()]
    assert [x["note_id"] for x in rows] == [1, 2] and rows[1]["end"].startswith("2026-05-01T19:30")
    r = runner.invoke(main, ["--db", db, "note", "list"])
    assert "caffeine 2 cups" in r.output and "day's end" in r.output
    r = runner.invoke(main, ["--db", db, "note", "edit", "1", "--caffeine", "3", "--untag", "run",
                             "--drop", "sleep", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["factors"] == {"caffeine": 3.0}
    r = runner.invoke(main, ["--db", db, "note", "delete", "2"])  # no terminal to ask on
    assert r.exit_code == 2 and "--yes" in r.output
    r = runner.invoke(main, ["--db", db, "note", "delete", "2", "--yes"])
    assert r.exit_code == 0 and "deleted" in r.output
    r = runner.invoke(main, ["--db", db, "note", "list", "--json"])
    assert len(r.output.splitlines()) == 1


@pytest.mark.parametrize("args, words", [
    (["--caffeine", "50"], ["caffeine must be 0..30"]),
    (["--tag", "two words"], ["tag"]),
    ([], ["empty note"]),
    (["--at", "yesterday", "--stress", "3"], ["ISO 8601"]),
    (["--from", "2026-05-01T10:00", "--stress", "3"], ["both --from and --to"]),
])
def test_bad_notes_exit_2_and_write_nothing(runner, tmp_path, args, words):
    db = str(tmp_path / "n.db")
    r = runner.invoke(main, ["note", "add", "--db", db] + args)
    assert r.exit_code == 2, r.output
    for w in words:
        assert w in r.output
    r = runner.invoke(main, ["note", "list", "--db", db, "--json"])
    assert r.output == ""


def test_stats(runner, year):
    db, truth = year
    r = runner.invoke(main, ["stats", "--db", str(db), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert s["total"]["twitches"] > 0.99 * truth.twitches and len(s["days"]) >= 18
    assert s["health_note"] == HEALTH_NOTE and s["first_day"] < s["last_day"]
    r = runner.invoke(main, ["stats", "--db", str(db), "--forecast", "--days", "3"])
    assert r.exit_code == 0, r.output
    assert "By day (last 3 of" in r.output and "Forecast" in r.output and HEALTH_NOTE in r.output
    r = runner.invoke(main, ["stats", "--db", str(db), "--since", "2999-01-01"])
    assert r.exit_code == 0 and "No hours of wear" in r.output
    r = runner.invoke(main, ["stats", "--db", str(db.parent / "missing.db")])
    assert r.exit_code == 2 and "no store yet" in r.output
    assert not (db.parent / "missing.db").exists()


def test_plot_report_export(runner, year, tmp_path):
    db, truth = year
    png = tmp_path / "s.png"
    r = runner.invoke(main, ["plot", "--db", str(db), str(truth.raw_session), "-o", str(png)])
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:4] == b"\x89PNG"
    r = runner.invoke(main, ["plot", "--db", str(db), "999", "-o", str(png)])
    assert r.exit_code == 2 and "no session 999" in r.output
    html = tmp_path / "r.html"
    r = runner.invoke(main, ["report", "--db", str(db), "-o", str(html), "--since",
                             truth.start.isoformat()])
    assert r.exit_code == 0 and "wrote" in r.output
    assert "<img" in html.read_text()
    out = tmp_path / "exp"
    r = runner.invoke(main, ["export", "--db", str(db), "--format", "parquet", "-o", str(out),
                             "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["events"] > truth.events - 1 and res["samples"] == 60_000 and res["files"] > 3
    r = runner.invoke(main, ["export", "--db", str(db), "--format", "edf", "-o", str(out)])
    assert r.exit_code == 2 and "not an empty directory" in r.output


def test_record_notes_become_a_note(runner, tmp_path):
    db = str(tmp_path / "rec.db")
    with SimBoard(speed=5, flash=tmp_path / "f.img") as board:
        r = runner.invoke(main, ["record", "--db", db, "--port", board.port, "--duration", "1",
                                 "--quiet", "--notes", "caffeine=2 #gym after coffee"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["note", "list", "--db", db, "--json"])
    (n,) = [json.loads(x) for x in r.output.splitlines()]
    assert n["session_id"] == 1 and n["factors"] == {"caffeine": 2.0} and n["tags"] == ["gym"]
    assert n["text"] == "caffeine=2 #gym after coffee" and n["end"] is not None

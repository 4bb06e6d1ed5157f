"""Notes and conditions in a real SQLite store: the migration (older session notes become notes),
add/list/edit/delete with checks, `record --notes` making the same thing, and the rules that say
which conditions hold when."""

import datetime as dt
import sqlite3

import numpy as np
import pytest

from myotwitch import notes as nt
from myotwitch import store as st


@pytest.fixture
def db(tmp_path):
    s = st.open_store(tmp_path / "m.db")
    yield s
    s.close()


def ms(y, m, d, h=0, mi=0):
    return int(dt.datetime(y, m, d, h, mi).astimezone().timestamp() * 1000)


def test_the_migration_turns_older_session_notes_into_notes(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    for n in range(4):  # a store as the version before the notes left it
        for stmt in st._statements(st.MIGRATIONS[n]):
            conn.execute(stmt)
    conn.execute("PRAGMA user_version = 4")
    conn.execute("INSERT INTO devices (id, key, board, first_seen, last_seen) "
                 "VALUES (1, 'k', 'virtual', 0, 0)")
    conn.executemany("INSERT INTO sessions (device_id, started_at, ended_at, notes) VALUES "
                     "(1, ?, ?, ?)", [(1000.0, 2000.0, "after coffee"), (3000.0, None, "  "),
                                      (4000.0, None, "short night")])
    conn.commit()
    conn.close()
    s = st.open_store(path)
    try:
        assert s.schema_version == st.SCHEMA_VERSION
        got = [(n.start_ms, n.end_ms, n.text, n.session_id) for n in nt.list_notes(s)]
        assert got == [(1_000_000, 2_000_000, "after coffee", 1), (4_000_000, None, "short night", 3)]
    finally:
        s.close()


def test_add_list_edit_delete(db):
    a = nt.add_note(db, nt.Note(None, ms(2026, 5, 1, 8), factors={"caffeine": 2, "sleep": 6.5},
                                tags=["Run", "#gym"], text=" busy "))
    n = nt.get_note(db, a)
    assert n.factors == {"caffeine": 2.0, "sleep": 6.5} and n.tags == ["gym", "run"]
    assert n.text == "busy" and n.end_ms is None
    b = nt.add_note(db, nt.Note(None, ms(2026, 5, 2, 18), ms(2026, 5, 2, 19), {"exercise": 60}))
    assert [x.id for x in nt.list_notes(db)] == [a, b]
    assert [x.id for x in nt.list_notes(db, since_ms=ms(2026, 5, 2))] == [b]
    # a moment holds to the end of its day: still listed for a range starting that evening
    assert [x.id for x in nt.list_notes(db, since_ms=ms(2026, 5, 1, 20),
                                        until_ms=ms(2026, 5, 1, 22))] == [a]
    e = nt.edit_note(db, a, set_factors={"caffeine": 3}, drop_factors=["sleep"],
                     add_tags=["late"], drop_tags=["run"], text="")
    assert e.factors == {"caffeine": 3.0} and e.tags == ["gym", "late"] and e.text is None
    e = nt.edit_note(db, b, moment=True)
    assert e.end_ms is None
    nt.delete_note(db, a)
    assert [x.id for x in nt.list_notes(db)] == [b]
    assert db.conn.execute("SELECT count(*) FROM note_factors WHERE note_id=?", (a,)).fetchone()[0] == 0
    with pytest.raises(nt.NoteError, match="no note"):
        nt.get_note(db, a)


@pytest.mark.parametrize("note, words", [
    (nt.Note(None, 0, factors={"caffeine": 40}), ["caffeine", "0..30"]),
    (nt.Note(None, 0, factors={"stress": -1}), ["stress", "0..10"]),
    (nt.Note(None, 0, factors={"coffee": 1}), ["unknown factor", "tag"]),
    (nt.Note(None, 0, factors={"sleep": "lots"}), ["not a number"]),
    (nt.Note(None, 0, tags=["two words"]), ["tag"]),
    (nt.Note(None, 10, 5, {"caffeine": 1}), ["end", "after its start"]),
    (nt.Note(None, 0), ["empty note"]),
])
def test_bad_notes_are_refused_and_nothing_is_written(db, note, words):
    with pytest.raises(nt.NoteError) as e:
        nt.add_note(db, note)
    for w in words:
        assert w in str(e.value)
    assert nt.list_notes(db) == []


def test_record_notes_become_a_note_spanning_the_session(db):
    dev = db.upsert_device("virtual")
    sid = db.new_session(dev, started_at=1_000.0, notes="caffeine=3 sleep=5.5 #gym after coffee")
    n = nt.list_notes(db)[0]
    assert n.session_id == sid and n.end_ms is None and n.start_ms == 1_000_000
    assert n.factors == {"caffeine": 3.0, "sleep": 5.5} and n.tags == ["gym"]
    assert n.text == "caffeine=3 sleep=5.5 #gym after coffee"
    db.end_session(sid, ended_at=1_600.0)
    assert nt.get_note(db, n.id).end_ms == 1_600_000
    # editing the note's text keeps the session's notes column saying the same
    nt.edit_note(db, n.id, text="edited")
    assert db.session(sid)["notes"] == "edited"
    # a bad factor value in --notes is refused before anything is written
    with pytest.raises(nt.NoteError, match="caffeine"):
        db.new_session(dev, notes="caffeine=99")
    assert len(db.sessions()) == 1
    db.new_session(dev, notes=None)
    assert len(nt.list_notes(db)) == 1


def test_timeline_rules(db):
    day = (2026, 5, 4)
    notes = [
        nt.Note(1, ms(*day, 8), factors={"caffeine": 1, "sleep": 7}),
        nt.Note(2, ms(*day, 13), factors={"caffeine": 2, "stress": 6}),
        nt.Note(3, ms(*day, 18), ms(*day, 19), factors={"exercise": 45}, tags=["run"]),
        nt.Note(4, ms(*day, 15), factors={"sleep": 4}),  # a nap note later the same day wins
    ]
    t = np.array([ms(*day, 7), ms(*day, 9), ms(*day, 14), ms(*day, 16), ms(*day, 18, 30),
                  ms(2026, 5, 5, 9)])
    c = nt.timeline(notes, t)
    # amounts add up over the day; before the first cup the logged day counts as 0
    assert list(c.values["caffeine"][:5]) == [0, 1, 3, 3, 3] and np.isnan(c.values["caffeine"][5])
    s = c.values["sleep"]
    assert np.isnan(s[0]) and list(s[1:5]) == [7, 7, 4, 4] and np.isnan(s[5])
    assert np.isnan(c.values["stress"][1]) and c.values["stress"][2] == 6
    ex = c.values["exercise"]
    assert ex[4] == 45 and np.isnan(ex[3])  # a range holds only over itself
    assert list(c.tags["run"]) == [False, False, False, False, True, False]
    assert nt.FACTORS["caffeine"].level(3) == "3+ cups" and nt.FACTORS["caffeine"].level(0) == "0 cups"

"""Notes and conditions: what the wearer logs beside the device's counts.

A note is either a moment (it then holds from that moment to the end of its local day: "3 cups
this morning" still holds in the afternoon) or a range (it holds from its start to its end). It
carries any of the factors below, free tags and free text. `record --notes` makes a note that
spans the session; `key=value` words and `#tags` in its text become factors and tags, so both
routes give the same thing.

How a factor's value at a moment is found (`timeline`):
  * amounts (caffeine, exercise, hydration, magnesium, alcohol) add up: the value at t is the sum
    of the notes holding at t, and on a day with a moment note of that factor, the hours before
    the first one count as 0 (the day was logged);
  * levels (sleep, stress) take the latest note holding at t;
  * a factor nobody logged for that time is unknown, never 0: it stays out of comparisons.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field

import numpy as np


class NoteError(ValueError):
    pass


@dataclass(frozen=True)
class Factor:
    name: str
    unit: str
    lo: float
    hi: float
    adds_up: bool  # amounts add up over a day; levels take the latest
    levels: tuple  # ((upper bound exclusive, label), ...), the last with math.inf
    help: str

    def level(self, value: float) -> str:
        for upper, label in self.levels:
            if value < upper:
                return label
        return self.levels[-1][1]


INF = math.inf
FACTORS = {f.name: f for f in (
    Factor("caffeine", "cups", 0, 30, True, ((0.5, "0 cups"), (2.5, "1-2 cups"), (INF, "3+ cups")),
           "cups of coffee, tea, energy drinks"),
    Factor("sleep", "h", 0, 24, False, ((6, "under 6 h"), (8, "6-8 h"), (INF, "8+ h")),
           "hours slept the night before"),
    Factor("stress", "/10", 0, 10, False, ((4, "stress 0-3"), (7, "stress 4-6"),
                                          (INF, "stress 7-10")), "stress from 0 (none) to 10"),
    Factor("exercise", "min", 0, 1440, True, ((0.5, "no exercise"), (60, "under 60 min"),
                                              (INF, "60+ min")), "minutes of exercise"),
    Factor("hydration", "L", 0, 20, True, ((1.5, "under 1.5 L"), (2.5, "1.5-2.5 L"),
                                           (INF, "2.5+ L")), "litres drunk"),
    Factor("magnesium", "mg", 0, 5000, True, ((0.5, "no magnesium"), (INF, "magnesium")),
           "milligrams of magnesium taken"),
    Factor("alcohol", "drinks", 0, 50, True, ((0.5, "no alcohol"), (2.5, "1-2 drinks"),
                                              (INF, "3+ drinks")), "standard drinks"),
)}

TAG_RE = re.compile(r"^[\w][\w.+-]{0,39}$")
MAX_TEXT = 2000


@dataclass
class Note:
    id: int | None
    start_ms: int
    end_ms: int | None = None  # None: a moment, holding to the end of its local day
    factors: dict = field(default_factory=dict)  # name -> value
    tags: list = field(default_factory=list)
    text: str | None = None
    session_id: int | None = None

    def as_json(self) -> dict:
        from myotwitch.formats import iso_ms

        return {"note_id": self.id, "start": iso_ms(self.start_ms), "end": iso_ms(self.end_ms),
                "factors": dict(self.factors), "tags": list(self.tags), "text": self.text,
                "session_id": self.session_id}


# ---------------------------------------------------------------- checking input


def check_factor(name: str, value) -> float:
    f = FACTORS.get(name)
    if f is None:
        raise NoteError("unknown factor %r (known: %s); use a tag for anything else"
                        % (name, ", ".join(FACTORS)))
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise NoteError("%s: %r is not a number" % (name, value)) from None
    if not (f.lo <= v <= f.hi):
        raise NoteError("%s must be %g..%g %s, got %g" % (name, f.lo, f.hi, f.unit, v))
    return v


def check_tag(tag: str) -> str:
    t = tag.strip().lstrip("#").lower()
    if not TAG_RE.match(t):
        raise NoteError("tag %r: use up to 40 letters, digits, '_', '-', '.', '+' (no spaces)" % tag)
    return t


def check_note(note: Note) -> Note:
    if note.end_ms is not None and note.end_ms <= note.start_ms:
        raise NoteError("a note's end must come after its start")
    note.factors = {k: check_factor(k, v) for k, v in note.factors.items()}
    note.tags = sorted({check_tag(t) for t in note.tags})
    if note.text is not None:
        note.text = note.text.strip() or None
        if note.text and len(note.text) > MAX_TEXT:
            raise NoteError("note text longer than %d characters" % MAX_TEXT)
    if not (note.factors or note.tags or note.text):
        raise NoteError("an empty note: give a factor (--caffeine 2 ...), a --tag or some text")
    return note


def parse_note_text(text: str | None) -> tuple[dict, list, str | None]:
    """`record --notes` text -> (factors, tags, text). `caffeine=3`, `sleep=6.5` and `#tag`
    words become factors and tags; the note keeps the whole text as written."""
    factors, tags = {}, []
    if not text:
        return factors, tags, None
    for word in text.split():
        key, eq, value = word.partition("=")
        if eq and key.lower() in FACTORS:
            factors[key.lower()] = check_factor(key.lower(), value.rstrip(",;"))
        elif word.startswith("#") and len(word) > 1:
            tags.append(check_tag(word.rstrip(",;")))
    return factors, tags, text.strip() or None


# ---------------------------------------------------------------- the store


def add_note(store, note: Note) -> int:
    note = check_note(note)
    return store.insert_note(note.start_ms, note.end_ms, note.factors, note.tags, note.text,
                             note.session_id)


def get_note(store, note_id: int) -> Note:
    rows = store.notes_rows(ids=[note_id])
    if not rows:
        raise NoteError("no note %d (see `myotwitch note list`)" % note_id)
    return _note(rows[0])


def list_notes(store, since_ms=None, until_ms=None) -> list[Note]:
    """Notes that hold at some time in [since, until), oldest first."""
    out = []
    for r in store.notes_rows(since_ms=since_ms, until_ms=until_ms):
        n = _note(r)
        a, b = span(n)
        if (since_ms is None or b > since_ms) and (until_ms is None or a < until_ms):
            out.append(n)
    return out


def edit_note(store, note_id: int, start_ms=None, end_ms=None, moment=False, set_factors=None,
              drop_factors=(), add_tags=(), drop_tags=(), text=None) -> Note:
    """Change what is given; everything else stays. moment=True makes a range a moment."""
    note = get_note(store, note_id)
    if start_ms is not None:
        note.start_ms = start_ms
    if moment:
        note.end_ms = None
    elif end_ms is not None:
        note.end_ms = end_ms
    for name in drop_factors:
        if name not in note.factors:
            raise NoteError("note %d has no %s to remove" % (note_id, name))
        del note.factors[name]
    note.factors.update(set_factors or {})
    dropped = {check_tag(t) for t in drop_tags}
    note.tags = [t for t in note.tags if t not in dropped] + list(add_tags)
    if text is not None:
        note.text = text
    note = check_note(note)
    store.update_note(note_id, note.start_ms, note.end_ms, note.factors, note.tags, note.text)
    return get_note(store, note_id)


def delete_note(store, note_id: int) -> Note:
    note = get_note(store, note_id)
    store.delete_note(note_id)
    return note


def _note(row) -> Note:
    return Note(id=row["id"], start_ms=row["start_ms"], end_ms=row["end_ms"],
                factors=dict(row["factors"]), tags=list(row["tags"]), text=row["text"],
                session_id=row["session_id"])


# ---------------------------------------------------------------- conditions over time


def end_of_day_ms(t_ms: int) -> int:
    """The end of t's local day (next local midnight), unix ms."""
    d = dt.datetime.fromtimestamp(t_ms / 1000).astimezone()
    nxt = (d.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
           + dt.timedelta(days=1))
    return int(nxt.astimezone().timestamp() * 1000)


def start_of_day_ms(t_ms: int) -> int:
    d = dt.datetime.fromtimestamp(t_ms / 1000)
    return int(d.replace(hour=0, minute=0, second=0, microsecond=0).astimezone().timestamp() * 1000)


def span(note: Note) -> tuple[int, int]:
    """[start, end) in unix ms over which the note holds."""
    return note.start_ms, note.end_ms if note.end_ms is not None else end_of_day_ms(note.start_ms)


@dataclass
class Conditions:
    """Factor values and tags at a set of times: values[name] is a float array with NaN where
    the factor is unknown; tags[name] is a bool array."""
    values: dict
    tags: dict


def timeline(notes: list[Note], t_ms: np.ndarray) -> Conditions:
    """The conditions at each time of t_ms (the rules in the module docstring)."""
    t = np.asarray(t_ms, dtype=np.int64)
    values = {}
    for name, f in FACTORS.items():
        mine = [n for n in notes if name in n.factors]
        if not mine:
            continue
        v = np.full(len(t), np.nan)
        if f.adds_up:
            known = np.zeros(len(t), dtype=bool)
            total = np.zeros(len(t))
            for n in mine:
                a, b = span(n)
                on = (t >= a) & (t < b)
                total[on] += n.factors[name]
                known |= on
                if n.end_ms is None:  # a moment: its whole day was logged
                    known |= (t >= start_of_day_ms(n.start_ms)) & (t < b)
            v[known] = total[known]
        else:
            for n in sorted(mine, key=lambda n: n.start_ms):  # the latest wins
                a, b = span(n)
                v[(t >= a) & (t < b)] = n.factors[name]
        values[name] = v
    tags = {}
    for n in notes:
        a, b = span(n)
        for tag in n.tags:
            arr = tags.setdefault(tag, np.zeros(len(t), dtype=bool))
            arr |= (t >= a) & (t < b)
    return Conditions(values=values, tags=tags)


def describe(note: Note) -> str:
    """One line: the factors with units, #tags, the text."""
    from myotwitch.formats import safe

    parts = ["%s %g %s" % (k, v, FACTORS[k].unit[:-1] if v == 1 and FACTORS[k].unit.endswith("s")
                           else FACTORS[k].unit) for k, v in sorted(note.factors.items())]
    parts += ["#" + t for t in note.tags]
    if note.text:
        parts.append('"%s"' % safe(note.text))
    return ", ".join(parts)

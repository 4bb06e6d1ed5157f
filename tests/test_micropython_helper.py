"""The helper that runs code in the real MicroPython unix port does what the other tests rely on."""

import pytest

from mpvm import run_micropython


def test_runs_source_and_captures_output():
    r = run_micropython("import sys\nprint('hello', sys.implementation.name)\n").check()
    assert r.returncode == 0
    assert r.stdout.strip() == "hello micropython"


def test_runs_a_file_with_args_and_stdin(tmp_path):
    script = tmp_path / "echo.py"
    script.write_text("import sys\nprint(sys.argv[1:])\nprint(sys.stdin.read().upper())\n")
    r = run_micropython(script, args=("a", 7), stdin="from stdin").check()
    assert r.stdout.splitlines() == ["['a', '7']", "FROM STDIN"]


def test_nonzero_exit_is_reported():
    r = run_micropython("raise SystemExit(3)")
    assert r.returncode == 3
    with pytest.raises(AssertionError, match="exited 3"):
        r.check()


def test_uncaught_exception_is_reported_with_output():
    r = run_micropython("print('before')\nraise ValueError('boom')\n")
    assert r.returncode != 0
    with pytest.raises(AssertionError) as e:
        r.check()
    assert "before" in str(e.value)
    assert "ValueError: boom" in str(e.value)


ALLOC_100K = "b = bytearray(100 * 1024)\nprint('allocated', len(b))\n"


def test_heapsize_applies():
    small = run_micropython(ALLOC_100K, heapsize="64k")
    assert small.returncode != 0
    assert "MemoryError" in small.stderr + small.stdout
    big = run_micropython(ALLOC_100K, heapsize="512k").check()
    assert big.stdout.strip() == "allocated 102400"


def test_micropypath_puts_given_dirs_first(tmp_path):
    (tmp_path / "mp_helper_probe.py").write_text("VALUE = 42\n")
    r = run_micropython(
        "import sys, mp_helper_probe\nprint(mp_helper_probe.VALUE)\nprint(sys.path)\n",
        path=(tmp_path,)).check()
    lines = r.stdout.splitlines()
    assert lines[0] == "42"
    search = eval(lines[1])  # MicroPython prints a list of str, same syntax as CPython
    assert str(tmp_path) in search
    assert ".frozen" in search  # the port's default path is kept after ours
    assert search.index(str(tmp_path)) < search.index(".frozen")


def test_fixture_is_the_helper(run_micropython):
    assert run_micropython("print(6 * 7)").check().stdout.strip() == "42"


def test_does_not_read_real_stdin():
    # CI runs with no standard input; a script reading it must see EOF, not hang.
    r = run_micropython("import sys\nprint(repr(sys.stdin.read()))\n", timeout=20).check()
    assert r.stdout.strip() == "''"

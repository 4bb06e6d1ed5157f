"""`make demo`'s job end to end: virtual board, raw recording over the pty, summary, verify."""

from myotwitch.demo import run_demo


def test_demo_records_raw_and_the_host_reproduces_every_device_event(tmp_path):
    lines = []
    sm = run_demo(speed=20, db=tmp_path / "demo.db", echo=lines.append)
    text = "\n".join(lines)
    assert sm["raw_check"]["equal"] == sm["raw_check"]["compared"] > 50_000
    assert sm["verify"]["agree"] and sm["verify"]["problems"] == 0
    assert sm["verify"]["matched"] > 0
    assert "Link:" in text and "Dropped samples" in text and "see a doctor" in text

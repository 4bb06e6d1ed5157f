"""Pictures as a person sees them: session plots (PNG and SVG) and the HTML report, rendered in
headless Chromium (Debian package `chromium`; .ci/run installs it): a screenshot that is not
blank, and every figure decoded by the browser."""

import base64
import html.parser
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from bench.yearstore import fill
from myotwitch import plots, report
from myotwitch.store import open_store
from myotwitch.summary import HEALTH_NOTE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    d = tmp_path_factory.mktemp("pictures")
    s = open_store(d / "s.db")
    truth = fill(s, days=21, events=6000, seed=9, raw_minutes=2, channels=2)
    yield s, truth, d
    s.close()


def test_session_plot_png_and_svg(filled):
    s, truth, d = filled
    png = d / "raw.png"
    plots.save(plots.session_figure(s, truth.raw_session), png)
    data = png.read_bytes()
    assert data.startswith(PNG) and len(data) > 20_000
    svg = d / "events.svg"
    plots.save(plots.session_figure(s, truth.session_ids[-1]), svg)  # no raw: events over time
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    text = svg.read_text()
    assert "no raw samples" in text and "twitch" in text
    with pytest.raises(plots.PlotError, match="png or .svg"):
        plots.save(plots.session_figure(s, truth.raw_session), d / "x.jpg")
    with pytest.raises(plots.PlotError, match="no session"):
        plots.session_figure(s, 9999)


def test_a_long_session_is_drawn_as_an_envelope(tmp_path):
    # 3 hours at 1 kHz: the overview must not draw 10.8 million points
    s = open_store(tmp_path / "long.db")
    from myotwitch.rawfile import RawWriter

    dev = s.upsert_device("virtual", fs=1000)
    s.upsert_boot(dev, 1, 1000)
    s.set_boot_sync(dev, 1, 1_700_000_000_000, 0)
    sid = s.new_session(dev, started_at=1_700_000_000, raw=True, channels=[0], fs=1000)
    s.add_session_boot(sid, dev, 1)
    s.raw_dir.mkdir(parents=True, exist_ok=True)
    w = RawWriter(s.raw_path(sid), [0], 1000)
    rng = np.random.default_rng(1)
    for lo in range(0, 3 * 3_600_000, 360_000):
        w.add(0, lo, rng.normal(0, 10, 360_000).astype(np.int16), boot_id=1)
    w.close()
    s.add_events(sid, dev, 1, [{"seq": 1, "onset": 5_000_000, "duration": 12, "kind": 0,
                                "channel": 0, "peak": 80, "area": 300}])
    s.end_session(sid, ended_at=1_700_000_000 + 3 * 3600)
    fig = plots.session_figure(s, sid)
    points = sum(len(line.get_xdata()) for ax in fig.axes for line in ax.get_lines())
    polys = sum(len(p.get_paths()[0].vertices) for ax in fig.axes for p in ax.collections)
    assert points + polys < 50_000
    assert any("h" in ax.get_xlabel() for ax in fig.axes)
    plots.save(fig, tmp_path / "long.png")
    s.close()


class _Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.links = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.srcs.append(a.get("src", ""))
        for k in ("src", "href"):
            if a.get(k) and tag != "img":
                self.links.append(a[k])


def test_report_is_one_self_contained_file(filled):
    s, truth, d = filled
    text = report.build_report(s)
    p = _Images()
    p.feed(text)
    assert len(p.srcs) == 4  # rate per day, heat map, conditions, examples: all embedded
    for src in p.srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    assert p.links == [] and "http://" not in text and "https://" not in text
    assert HEALTH_NOTE.replace("'", "&#x27;") in text or HEALTH_NOTE in text
    assert "Sessions (%d)" % len(truth.session_ids + [truth.raw_session]) in text
    words = re.sub(r'src="data:[^"]*"', "", text)  # the text, not the figures' base64
    for word in ("abnormal", "healthy", "ALS", "disease", "diagnosis of"):
        assert not re.search(r"\b%s\b" % word, words), word
    assert "not a cause" in text


def _chromium(args, tmp_path, timeout=90):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--hide-scrollbars", "--user-data-dir=%s" % (tmp_path / "profile")]
    return subprocess.run(cmd + args, capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install "
                                             "chromium; .ci/run installs it, so CI always runs this)")
def test_report_in_a_real_browser(filled, tmp_path):
    s, truth, d = filled
    path = tmp_path / "report.html"
    report.write_report(s, path)
    # every figure decoded: the browser's own naturalWidth of each <img>, written into the DOM
    # by a script appended to a copy of the page (the report itself has no script)
    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text() + "<script>window.addEventListener('load', () => {"
                     "const r = [...document.images].map(i => [i.complete, i.naturalWidth,"
                     " i.naturalHeight]); const p = document.createElement('pre');"
                     " p.id = 'probe'; p.textContent = JSON.stringify(r);"
                     " document.body.appendChild(p); });</script>")
    out = _chromium(["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], tmp_path)
    m = re.search(r'<pre id="probe">(.*?)</pre>', out.stdout)
    assert m, out.stderr[-2000:]
    images = json.loads(m.group(1).replace("&quot;", '"'))
    assert len(images) == 4 and all(ok and w > 300 and h > 100 for ok, w, h in images), images
    # and what a person sees: a screenshot, not blank, with the figures' colours in it
    shot = tmp_path / "report.png"
    out = _chromium(["--screenshot=%s" % shot, "--window-size=1200,3000", path.as_uri()],
                    tmp_path)
    assert shot.exists(), out.stderr[-2000:]
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (3000, 1200)
    assert img.std() > 20  # not a blank page
    dark_blue = ((img[..., 2] > 100) & (img[..., 0] < 60)).sum()  # the plots' trace colour
    health = ((img[..., 0] > 240) & (img[..., 1] > 230) & (img[..., 2] < 235)
              & (img[..., 2] > 200)).sum()  # the health note's pale orange box
    assert dark_blue > 2000 and health > 20_000, (dark_blue, health)
    shutil.copy(shot, d / "report-screenshot.png")

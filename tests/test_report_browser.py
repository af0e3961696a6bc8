"""index.html in a real headless browser (Debian's chromium): it loads from file:// with no
network, every image loads, and the summary table is there.

chromium comes from scripts/install-browser.sh. Without it the test is skipped, unless the
CI variable is set: in CI a missing browser is a failure.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from synthetic_results import write_results

import sweeper
from sweeper.analysis.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=10000", "--dump-dom"]

# Added to a copy of the page, beside it (so relative paths resolve the same): after the
# load event it writes what it found into the DOM, which --dump-dom prints.
PROBE = """<script>
window.addEventListener("load", function () {
  var images = Array.from(document.images);
  var found = {
    images: images.length,
    broken: images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                  .map(function (i) { return i.getAttribute("src"); }),
    table_rows: document.querySelectorAll("table#summary tbody tr").length,
    title: document.title
  };
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>"""

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed (run scripts/install-browser.sh); in CI this test must run",
)


def probe(index: Path, tmp_path: Path) -> dict:
    assert CHROMIUM is not None, "chromium is missing in CI: scripts/install-browser.sh must run first"
    page = index.with_name(".probe.html")
    page.write_text(index.read_text().replace("</body>", PROBE + "</body>"))
    try:
        done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", page.as_uri()],
                              capture_output=True, text=True, timeout=120)
    finally:
        page.unlink()
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout)
    assert found, f"the page did not finish loading in chromium: {done.stderr[-500:]}"
    return json.loads(html.unescape(found[1]))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = write_results(tmp_path_factory.mktemp("r") / "browser",
                           {"learning_rate": [0.01, 0.1], "momentum": [0.0, 0.9]}, seeds=2)
    return write_report(sweeper.load(folder))


def test_index_loads_with_every_image_and_the_table(report, tmp_path):
    found = probe(report.index, tmp_path)
    assert found["title"].startswith("browser")
    assert found["images"] == len(report.plots) >= 5
    assert found["broken"] == []
    assert found["table_rows"] == 4


def test_a_missing_image_is_noticed(report, tmp_path):
    """The probe itself must be able to fail: hide one PNG and it is reported broken."""
    png = report.folder / report.plots[0].file
    hidden = png.with_suffix(".hidden")
    png.rename(hidden)
    try:
        assert probe(report.index, tmp_path)["broken"] == [report.plots[0].file]
    finally:
        hidden.rename(png)

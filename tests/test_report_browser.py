"""The HTML report in a real browser: headless Chromium opens SITE/index.html from disk, and the test checks
that the page rendered (a screenshot that is not blank), that Table 1's heading and cells are there after the
page's scripts ran, and that every image loaded and every link points at a file of the site.

Skipped only where no browser is installed; under CI=true a missing browser fails (.ci/run installs
Debian's chromium)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from matplotlib.image import imread
from reports_fixtures import write_algorithmic_folder, write_generalization, write_profile_folder
from test_report_site import parse

from bench.cli import main

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# a closed network: no background connections; root in a container: no sandbox
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files", "--hide-scrollbars")
SCREEN = (1280, 2000)


@pytest.fixture(scope="module")
def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("no headless browser (chromium) in CI: .ci/run installs Debian's chromium; the HTML report "
                    "must be tested in a browser there")
    pytest.skip("no chromium installed (apt-get install chromium); the page's files are tested in test_report_site")


def chromium(browser: str, profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *arguments], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    runs = write_algorithmic_folder(root / "runs")
    write_generalization(runs)
    profile = write_profile_folder(root / "profile")
    out = root / "site"
    assert main(["report", "html", "--in", str(runs), "--in", str(profile), "--out", str(out)]) == 0
    return out


def test_page_renders_in_headless_chromium(browser, site, tmp_path):
    url = (site / "index.html").resolve().as_uri()
    shot = tmp_path / "page.png"
    done = chromium(browser, tmp_path / "profile-shot", f"--window-size={SCREEN[0]},{SCREEN[1]}",
                    f"--screenshot={shot}", url)
    assert shot.is_file(), done.stderr[-2000:]
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (SCREEN[1], SCREEN[0])
    background = (pixels > 0.97).all(axis=-1).mean()
    assert background < 0.97 and pixels.std() > 0.05  # text, tables and figures drawn, not a blank page

    dom = chromium(browser, tmp_path / "profile-dom", "--virtual-time-budget=10000", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = tmp_path / "rendered.html"
    rendered.write_text(dom.stdout, encoding="utf-8")
    page = parse(rendered)
    assert "Table 1, ours beside the paper's" in page.headings
    assert any(c.startswith("2/3 solved [21%-94%]") for c in page.cells)  # ntm on copy, from the runs
    assert "12.4k / 32 min" in page.cells  # the paper's cell beside it
    # every image loaded in the browser (the page's own check, run after load) ...
    assert 'data-images="4"' in dom.stdout and 'data-broken-images=""' in dom.stdout
    # ... and every link is a file of the site or a place on the page
    for target in page.links:
        assert not target.startswith(("http:", "https:", "//")), target
        assert target.startswith("#") or (site / target).is_file(), target


def test_a_missing_figure_shows_on_the_page(browser, site, tmp_path):
    broken = tmp_path / "site"
    shutil.copytree(site, broken)
    (broken / "figures" / "figure2.png").unlink()
    url = (broken / "index.html").resolve().as_uri()
    dom = chromium(browser, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", url)
    assert 'data-broken-images="figures/figure2.png"' in dom.stdout
    assert "These figures did not load: figures/figure2.png" in dom.stdout
    assert dom.returncode == 0

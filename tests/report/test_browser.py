"""The report in a real browser (headless Chromium through playwright)."""

import os
import shutil

import pytest

from sklearn_contig.report import SECTIONS

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")

playwright = pytest.importorskip("playwright.sync_api",
                                 reason="playwright not installed (pip install playwright)")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="no Chromium (Debian package `chromium`) for the browser test")


def test_report_loads_in_chromium(report):
    path = report
    errors = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.resolve().as_uri(), wait_until="load")
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            sections = page.eval_on_selector_all("section", "s => s.map(e => e.id)")
            headings = page.eval_on_selector_all("section h2", "h => h.map(e => e.textContent)")
        finally:
            browser.close()
    assert len(widths) >= 8
    assert all(w > 0 for w in widths), widths
    assert sections == list(SECTIONS)
    assert all(h.strip() for h in headings)
    assert errors == []

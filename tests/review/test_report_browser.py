"""The report as a person sees it: report.html opened in headless Chromium (Debian's
/usr/bin/chromium driven by Playwright). No console errors, every figure visible, and every
number tagged in the page equal to the number in results.json."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

CHROMIUM = (
    os.environ.get("SCI_EVIDENCE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(bundled_run):
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"SKIPPED LOUDLY: Chromium not found at {CHROMIUM}; the report was not "
            "checked in a browser (install Debian's chromium: .ci/run does)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - declared in the test extras
        pytest.skip(f"SKIPPED LOUDLY: playwright is not installed ({exc})")
    _, out = bundled_run
    messages, errors = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.on("console", lambda m: messages.append((m.type, m.text)))
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
        pg.goto((out / "report.html").resolve().as_uri(), wait_until="load")
        yield pg, messages, errors, out
        browser.close()


def test_renders_without_console_errors(page):
    pg, messages, errors, _ = page
    assert errors == []
    assert [m for m in messages if m[0] in ("error", "warning")] == []
    assert pg.title().startswith("Mesenchymal stem cell therapy")


def test_every_figure_is_visible(page):
    pg, _, _, out = page
    pg.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    boxes = pg.evaluate(
        """Array.from(document.querySelectorAll('div.figure > svg')).map(s => {
             const r = s.getBoundingClientRect();
             return [s.parentElement.id, r.width, r.height];
           })"""
    )
    n_files = len(list((out / "figures").glob("*.svg")))
    assert len(boxes) == n_files >= 10
    for fig_id, w, h in boxes:
        assert w > 100 and h > 100, fig_id
    # the main figures are visible without opening anything
    pg.evaluate("document.querySelectorAll('details').forEach(d => d.open = false)")
    for fig_id in (
        "fig-prisma_flow",
        "fig-forest_ais_improved_prop",
        "fig-natural_history_ais_improved_prop",
        "fig-rob_traffic_light_minors",
    ):
        assert pg.locator(f"#{fig_id} > svg").is_visible(), fig_id


def _value(entry: dict, field: str, study: str | None):
    if study is not None:
        s = next(s for s in entry["studies"] if s["study_id"] == study)
        return s[field]
    if field.startswith("back_transformed."):
        return entry["pooled"]["back_transformed"][field.split(".", 1)[1]]
    if field.startswith("subgroup."):
        _, var, key = field.split(".")
        return next(t for t in entry["subgroup_tests"] if t["variable"] == var)[key]
    if field == "natural_history.excess":
        return 100 * entry["natural_history"]["pooled"]["excess"]
    return entry["pooled"][field]


def test_numbers_in_the_page_equal_results_json(page):
    pg, _, _, out = page
    results = json.loads((out / "results.json").read_text())
    by_id = {e["id"]: e for e in results["analyses"]}
    cells = pg.evaluate(
        """Array.from(document.querySelectorAll('[data-analysis][data-field]')).map(e =>
             [e.dataset.analysis, e.dataset.field, e.dataset.study || null, e.textContent,
              e.dataset.factor || "1"])"""
    )
    checked = 0
    for analysis_id, field, study, text, factor in cells:
        expected = _value(by_id[analysis_id], field, study)
        # a cell on the reader's scale in percent carries the factor it was multiplied by
        expected = None if expected is None else float(factor) * expected
        text = text.strip()
        if expected is None:
            assert text == "–", (analysis_id, field)
            continue
        m = re.match(r"^-?\d+(?:\.(\d+))?", text.replace("−", "-"))
        assert m, (analysis_id, field, text)
        decimals = len(m.group(1) or "")
        assert float(m.group(0)) == pytest.approx(expected, abs=0.5 * 10**-decimals + 1e-12), (
            analysis_id,
            field,
            study,
            text,
            expected,
        )
        checked += 1
    assert checked >= 100
    # every pooled analysis of results.json appears in the page
    shown = {c[0] for c in cells}
    assert set(by_id) <= shown
    assert pg.locator("#data-hash").inner_text() == results["data_hash"]


def test_tables_sort_on_click(page):
    pg, _, _, out = page
    table = pg.locator("#tbl-sof")
    cells = table.locator("tbody tr td:nth-child(3)")  # Patients

    def numbers():
        return [float(x) for x in cells.all_inner_texts() if x.strip() not in ("–", "")]

    before = numbers()
    assert len(before) >= 3
    rows = cells.count()
    header = table.locator("thead th:nth-child(3)")
    header.click()
    assert numbers() == sorted(before)
    header.click()
    assert numbers() == sorted(before, reverse=True)
    # every row stays in the table, the not-pooled outcomes too (a single study's row gives
    # its patients, the others "–")
    results = json.loads((out / "results.json").read_text())
    not_pooled = pg.locator("#tbl-sof tr.not-pooled").count()
    assert cells.count() == rows == len(results["grade"]) + not_pooled
    assert not_pooled == len(results["not_pooled"])


def test_study_links_lead_to_the_characteristics_table(page):
    pg, _, _, _ = page
    hrefs = pg.evaluate(
        "Array.from(document.querySelectorAll('a.study')).map(a => a.getAttribute('href'))"
    )
    assert hrefs
    ids = set(
        pg.evaluate("Array.from(document.querySelectorAll('[id^=study-]')).map(e => '#' + e.id)")
    )
    assert set(hrefs) <= ids

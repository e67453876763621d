"""End-to-end tests: the real server (``sci-evidence serve`` on 127.0.0.1, a free port) driven
by headless Chromium through Playwright. Skipped when /usr/bin/chromium or Playwright is
missing. Screenshots go to ``$SCI_EVIDENCE_SCREENSHOTS`` (the docs use docs/screenshots/),
else to a temporary folder.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import PASSWORD, USERS

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    """``sci-evidence serve`` on a fresh database with one user per role."""
    from .conftest import PG_URL, _add_users

    tmp = tmp_path_factory.mktemp("browser")
    schema = None
    if PG_URL:
        import uuid

        import psycopg

        schema = f"b_{uuid.uuid4().hex[:12]}"
        dsn = re.sub(r"^postgresql\+psycopg://", "postgresql://", PG_URL)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in PG_URL else "?"
        url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp / 'evidence.sqlite'}"
    _add_users(url)
    port = _free_port()
    env = {
        **os.environ,
        "SCI_EVIDENCE_WEB_SECRET": "browser-test-secret",
        "MPLBACKEND": "Agg",
    }
    cmd = [sys.executable, "-c", "from sci_evidence.cli import main; main()", "serve"]
    cmd += ["--db", url, "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--runs-dir", str(tmp / "runs")]
    log = open(tmp / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(base + "/login", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    else:
        proc.kill()
    if proc.poll() is not None:
        log.close()
        pytest.fail("the server did not start:\n" + (tmp / "server.log").read_text())
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    if schema:
        import psycopg

        dsn = re.sub(r"^postgresql\+psycopg://", "postgresql://", PG_URL)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    target = os.environ.get("SCI_EVIDENCE_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def page_as(browser, server, key: str):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(20000)
    page.goto(server + "/login")
    page.fill("input[name=username]", USERS[key])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/studies$"))
    return page


def test_login_and_filter_changes_the_forest_plot(browser, server, shots):
    page = page_as(browser, server, "viewer")
    assert page.locator(".who").inner_text().startswith(USERS["viewer"])
    page.screenshot(path=str(shots / "studies.png"))
    page.goto(server + "/analyse?analysis=ais_improved_prop")
    k_all = int(page.inner_text("#analysis-k"))
    svg_before = page.inner_html("#forest")
    page.select_option("select[name=cell_source]", "bone_marrow")
    sync_api.expect(page.locator("#analysis-k")).not_to_have_text(str(k_all), timeout=20000)
    k_bm = int(page.inner_text("#analysis-k"))
    assert 0 < k_bm < k_all
    assert page.inner_html("#forest") != svg_before
    assert "cell_source=bone_marrow" in page.url  # filter state in the URL, no page reload
    page.select_option("select[name=subgroup]", "route")
    page.wait_for_selector("#subgroup-test")
    page.screenshot(path=str(shots / "analyse.png"), full_page=True)
    page.context.close()


def test_add_study_through_the_form_and_see_it_in_the_analysis(browser, server, shots):
    page = page_as(browser, server, "extractor")
    page.goto(server + "/analyse?analysis=ais_improved_prop")
    k_before = int(page.inner_text("#analysis-k"))
    page.goto(server + "/data/studies/new")
    page.fill("input[name=study_id]", "browser2025")
    page.fill("input[name=first_author]", "Playwright")
    page.fill("input[name=year]", "2025")
    page.select_option("select[name=design]", "case_series")
    page.click("#save")
    page.wait_for_url(re.compile(r".*/studies/browser2025$"))
    page.goto(server + "/data/arms/new?study_id=browser2025")
    for name, value in {"arm_id": "browser2025:treated", "n": "12"}.items():
        page.fill(f"input[name={name}]", value)
    arm_choices = {"role": "treated", "injury_phase": "unknown", "level": "unknown"}
    for name, value in {**arm_choices, "level_group": "unknown"}.items():
        page.select_option(f"select[name={name}]", value)
    page.click("#save")
    page.wait_for_url(re.compile(r".*/studies/browser2025$"))
    page.goto(server + "/data/outcomes/new?study_id=browser2025&arm_id=browser2025:treated")
    page.fill("input[name=outcome_id]", "browser2025:1")
    page.select_option("select[name=outcome]", "ais_improved")
    page.select_option("select[name=domain]", "ais")
    page.select_option("select[name=is_baseline]", "false")
    page.select_option("select[name=is_change]", "false")
    page.fill("input[name=n]", "12")
    page.fill("input[name=events]", "6")
    page.fill("textarea[name=verbatim]", "six of twelve improved by one grade")
    page.click("#save")
    page.wait_for_url(re.compile(r".*/studies/browser2025$"))
    assert "six of twelve improved" in page.inner_text("#outcomes")
    page.screenshot(path=str(shots / "study.png"), full_page=False)
    page.goto(server + "/analyse?analysis=ais_improved_prop")
    assert int(page.inner_text("#analysis-k")) == k_before + 1
    assert "Playwright 2025" in page.content()
    page.context.close()


def test_bad_value_is_refused_inline_and_nothing_is_stored(browser, server, shots):
    page = page_as(browser, server, "extractor")
    page.goto(server + "/data/studies/new")
    page.fill("input[name=study_id]", "refused2025")
    page.fill("input[name=year]", "last year")
    page.select_option("select[name=design]", "rct")
    page.click("#save")
    err = page.locator(".field-error[data-field=year]")
    err.wait_for()
    assert "integer" in err.inner_text() or "number" in err.inner_text()
    assert page.input_value("input[name=year]") == "last year"  # what was typed stays
    page.screenshot(path=str(shots / "form_error.png"))
    page.goto(server + "/studies?q=refused2025")
    assert page.inner_text("#study-count") == "0"
    page.context.close()


def _assess(page, server, sid: str, answers: dict[str, str]) -> None:
    page.goto(f"{server}/rob/{sid}")
    for item, value in answers.items():
        page.select_option(f"select[name='{item}__judgement']", value)
    page.click("#rob-done")
    page.wait_for_url(re.compile(rf".*/rob/{sid}/compare$"))


def test_two_assessors_disagree_and_resolve(browser, server, shots):
    sid = "mendonca-2014"
    first = page_as(browser, server, "assessor")
    second = page_as(browser, server, "assessor2")
    yes = {f"Q{i}": "yes" for i in range(1, 11)}
    _assess(first, server, sid, {**yes, "Q4": "unclear"})
    second.goto(f"{server}/rob/{sid}/compare")
    assert second.locator("#rob-waiting").is_visible()  # blinded until both are done
    _assess(second, server, sid, yes)
    rows = second.locator("#rob-compare tr.disagree")
    assert rows.count() == 1 and rows.first.get_attribute("data-domain") == "Q4"
    second.screenshot(path=str(shots / "rob_compare.png"), full_page=True)
    second.select_option("select[name=Q4__judgement]", "yes")
    second.fill("input[name=Q4__support]", "agreed after discussion")
    second.click("#consensus-form button[type=submit]")
    second.locator("#consensus-recorded").wait_for()
    first.goto(f"{server}/rob/agreement")
    assert first.locator(".kappa-all").first.inner_text() in ("0.00", "undefined")
    first.context.close()
    second.context.close()


def test_viewer_write_is_refused_even_when_forged(browser, server, shots):
    page = page_as(browser, server, "viewer")
    assert page.locator("a[href='/upload']").count() == 0  # no write links for a viewer
    page.goto(server + "/studies/mendonca-2014")
    token = page.locator("input[name=csrftoken]").first.get_attribute("value")
    r = page.request.post(
        server + "/data/studies/new",
        form={"csrftoken": token, "study_id": "forged2025", "design": "rct", "status": "reported"},
        max_redirects=0,
    )
    assert r.status == 403
    r = page.request.post(
        server + "/data/studies/new", form={"study_id": "forged2025"}, max_redirects=0
    )
    assert r.status == 403  # no CSRF token
    page.goto(server + "/studies?q=forged2025")
    assert page.inner_text("#study-count") == "0"
    page.goto(server + "/history")
    page.screenshot(path=str(shots / "history.png"))
    page.context.close()

"""Server-side tests of every route and permission (Starlette TestClient)."""

from __future__ import annotations

import csv
import io
import re

import pytest

from .conftest import PASSWORD, USERS, csrf_of

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def study_form(sid: str, **extra) -> dict:
    return {
        "study_id": sid,
        "first_author": "Testauthor",
        "year": "2024",
        "title": "A test study",
        "design": "case_series",
        "status": "reported",
        **extra,
    }


def arm_form(sid: str, **extra) -> dict:
    return {
        "study_id": sid,
        "arm_id": f"{sid}:treated",
        "arm_label": "treated",
        "role": "treated",
        "n": "20",
        "cell_source": "bone_marrow",
        "auto_allo": "autologous",
        "route": "intrathecal",
        "route_group": "intrathecal",
        "injury_phase": "chronic",
        "level": "unknown",
        "level_group": "unknown",
        "status": "reported",
        **extra,
    }


def outcome_form(sid: str, **extra) -> dict:
    return {
        "outcome_id": f"{sid}:1",
        "study_id": sid,
        "arm_id": f"{sid}:treated",
        "outcome": "ais_improved",
        "domain": "ais",
        "unit": "patients",
        "timepoint": "12 months",
        "timepoint_months": "12",
        "is_baseline": "false",
        "is_change": "false",
        "n": "20",
        "events": "18",
        "status": "reported",
        "verbatim": "18 of 20 patients improved",
        **extra,
    }


def post(client, token, url, data, **kw):
    return client.post(url, data={"csrftoken": token, **data}, follow_redirects=False, **kw)


def add_study(client, token, sid, *, study=None, arm=None, outcome=None):
    r = post(client, token, "/data/studies/new", study_form(sid, **(study or {})))
    assert r.status_code == 303, r.text
    r = post(client, token, "/data/arms/new", arm_form(sid, **(arm or {})))
    assert r.status_code == 303, r.text
    r = post(client, token, "/data/outcomes/new", outcome_form(sid, **(outcome or {})))
    assert r.status_code == 303, r.text


def n_studies(app) -> int:
    return len(app.state.ctx.evidence()[1].studies)


def n_changes(app) -> int:
    return len(app.state.ctx.store.history())


def last_change_of(app, sid: str) -> int:
    h = app.state.ctx.store.history()
    return int(h.loc[h["study_id"] == sid, "id"].iloc[-1])


# ------------------------------------------------------------------ access
READ_ROUTES = [
    "/studies",
    "/studies?design=rct&controlled=yes",
    "/studies/mendonca-2014",
    "/analyse",
    "/analyse?analysis=motor_change&subgroup=route",
    "/analyse/result?analysis=ais_improved_prop",
    "/analyse/figure.svg",
    "/analyse/data.csv",
    "/history",
    "/audit",
    "/rob",
    "/rob/agreement",
    "/rob/mendonca-2014/compare",
    "/reviews",
]


def test_anonymous_is_sent_to_login(client_for):
    c, token = client_for(None)
    for url in READ_ROUTES:
        r = c.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), url
    r = post(c, token, "/data/studies/new", study_form("anon"))
    assert r.status_code == 401


@pytest.mark.parametrize("url", READ_ROUTES)
def test_viewer_reads_every_page(client_for, url):
    c, _ = client_for("viewer")
    r = c.get(url)
    assert r.status_code == 200, r.text[:500]


WRITE_ROUTES = [
    ("/data/studies/new", study_form("forged")),
    ("/data/arms/new", arm_form("mendonca-2014", arm_id="mendonca-2014:forged")),
    (
        "/data/outcomes/new",
        outcome_form("mendonca-2014", outcome_id="forged:1", arm_id="mendonca-2014:treated"),
    ),
    (
        "/data/adverse_events/new",
        {
            "ae_id": "forged",
            "study_id": "mendonca-2014",
            "arm_id": "mendonca-2014:treated",
            "ae_type": "fever",
            "status": "reported",
        },
    ),
    ("/data/studies/edit/mendonca-2014", study_form("mendonca-2014")),
    ("/history/1/revert", {}),
    ("/rob/mendonca-2014", {"action": "save"}),
    ("/rob/mendonca-2014/consensus", {}),
    ("/reviews", {}),
    ("/admin/users", {"username": "mallory", "password": "x" * 12, "role": "admin"}),
    ("/admin/users/1", {"role": "admin", "active": "on"}),
    ("/upload/apply", {"token": "x"}),
]


@pytest.mark.parametrize(("url", "data"), WRITE_ROUTES)
def test_viewer_forged_write_is_refused(app, client_for, url, data):
    c, token = client_for("viewer")
    before = (n_studies(app), n_changes(app))
    r = post(c, token, url, data)
    assert r.status_code == 403, (url, r.status_code, r.text[:300])
    assert (n_studies(app), n_changes(app)) == before


def test_roles_limit_each_other(client_for):
    ext, t1 = client_for("extractor")
    assert post(ext, t1, "/history/1/revert", {}).status_code == 403
    assert post(ext, t1, "/rob/mendonca-2014", {"action": "save"}).status_code == 403
    assert ext.get("/admin/users").status_code == 403
    ass, t2 = client_for("assessor")
    assert post(ass, t2, "/data/studies/new", study_form("x1")).status_code == 403
    assert ass.get("/data/studies/new").status_code == 403
    ed, t3 = client_for("editor")
    assert (
        post(
            ed, t3, "/admin/users", {"username": "zed", "password": "x" * 12, "role": "viewer"}
        ).status_code
        == 403
    )


def test_post_without_csrf_token_is_refused(app, client_for):
    c, _ = client_for("editor")
    before = n_studies(app)
    r = c.post("/data/studies/new", data=study_form("nocsrf"), follow_redirects=False)
    assert r.status_code == 403
    r = c.post(
        "/data/studies/new",
        data={**study_form("nocsrf"), "csrftoken": "forged.token"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    r = c.post("/logout", follow_redirects=False)
    assert r.status_code == 403
    assert n_studies(app) == before


def test_htmx_header_token_is_accepted(app, client_for):
    c, token = client_for("extractor")
    r = c.post(
        "/data/studies/new",
        data=study_form("viaheader"),
        headers={"x-csrftoken": token},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_login_logout_rate_limit_and_cookies(client_for):
    from starlette.testclient import TestClient

    c, token = client_for(None)
    bad = {"username": USERS["viewer"], "password": "wrong password!", "csrftoken": token}
    r = c.post("/login", data=bad, follow_redirects=False)
    assert r.status_code == 401 and "wrong password" in r.text
    # a login form without the CSRF token is refused even before any session exists
    fresh = TestClient(c.app)
    assert fresh.post("/login", data={"username": "vera", "password": PASSWORD}).status_code == 403
    for _ in range(4):
        c.post("/login", data=bad)
    r = c.post("/login", data={**bad, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 429  # blocked even with the right password now
    other, token = client_for(None)
    r = other.post(
        "/login",
        data={"username": USERS["editor"], "password": PASSWORD, "csrftoken": token},
        follow_redirects=False,
    )
    session_cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith("sci_session=")][
        0
    ]
    assert "httponly" in session_cookie.lower() and "samesite=lax" in session_cookie.lower()
    r = other.get("/studies")
    assert r.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert post(other, token, "/logout", {}).status_code == 303
    assert other.get("/studies", follow_redirects=False).status_code == 303


def test_session_ends_when_user_is_deactivated(app, client_for):
    v, _ = client_for("viewer")
    assert v.get("/studies").status_code == 200
    adm, token = client_for("admin")
    users = {
        u.username: u.id
        for u in __import__("sci_evidence.web.accounts", fromlist=["x"]).list_users(
            app.state.ctx.engine
        )
    }
    r = post(adm, token, f"/admin/users/{users['vera']}", {"role": "viewer"})  # active unchecked
    assert r.status_code == 303
    assert v.get("/studies", follow_redirects=False).status_code == 303


def test_admin_adds_user_with_checked_values(client_for):
    adm, token = client_for("admin")
    r = post(
        adm, token, "/admin/users", {"username": "newbie", "password": "short", "role": "viewer"}
    )
    assert r.status_code == 400 and "at least 10" in r.text
    r = post(
        adm,
        token,
        "/admin/users",
        {"username": "newbie", "password": "long enough pw", "role": "assessor"},
    )
    assert r.status_code == 200 and "newbie" in r.text
    from starlette.testclient import TestClient

    c = TestClient(adm.app)
    t = csrf_of(c)
    r = c.post(
        "/login",
        data={"username": "newbie", "password": "long enough pw", "csrftoken": t},
        follow_redirects=False,
    )
    assert r.status_code == 303


# ------------------------------------------------------------------ explore
def test_study_list_filters_and_search(client_for):
    c, _ = client_for("viewer")
    total = int(re.search(r'id="study-count">(\d+)<', c.get("/studies").text).group(1))
    rct = int(re.search(r'id="study-count">(\d+)<', c.get("/studies?design=rct").text).group(1))
    bm = int(
        re.search(r'id="study-count">(\d+)<', c.get("/studies?cell_source=bone_marrow").text).group(
            1
        )
    )
    assert 0 < rct < total and 0 < bm < total
    r = c.get("/studies?q=mendon", headers={"hx-request": "true"})
    assert "Mendon" in r.text and "<html" not in r.text  # htmx gets the rows only
    r = c.get("/studies?dose_min=abc")
    assert r.status_code == 400 and "dose_min" in r.text


def test_study_page_shows_sources_of_numbers(client_for):
    c, _ = client_for("viewer")
    r = c.get("/studies/bydon-2024")
    assert r.status_code == 200
    assert "seven patients demonstrated improvement" in r.text  # quote of the outcome
    assert "E2_proquest_bydon" in r.text
    assert c.get("/studies/nope").status_code == 404


# ------------------------------------------------------------------ analyse
def _k(html: str) -> int:
    return int(re.search(r'id="analysis-k">(\d+)<', html).group(1))


def test_analysis_filters_change_the_forest_plot(client_for):
    c, _ = client_for("viewer")
    all_ = c.get("/analyse/result?analysis=ais_improved_prop")
    bm = c.get("/analyse/result?analysis=ais_improved_prop&cell_source=bone_marrow")
    assert _k(all_.text) > _k(bm.text) > 0
    assert "<svg" in all_.text and "<svg" in bm.text and all_.text != bm.text
    sub = c.get("/analyse/result?analysis=ais_improved_prop&subgroup=route")
    assert 'id="subgroup-test"' in sub.text
    page = c.get("/analyse?analysis=ais_improved_prop&route=intrathecal")
    assert 'value="intrathecal" selected' in page.text  # the filter state lives in the URL
    assert c.get("/analyse/result?analysis=nope").status_code == 400
    assert c.get("/analyse/result?subgroup=nope").status_code == 400


def test_analysis_downloads(client_for):
    c, _ = client_for("viewer")
    q = "analysis=ais_improved_prop&cell_source=bone_marrow"
    svg = c.get(f"/analyse/figure.svg?{q}")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert c.get(f"/analyse/figure.png?{q}").content[:8] == b"\x89PNG\r\n\x1a\n"
    assert c.get(f"/analyse/figure.pdf?{q}").content[:5] == b"%PDF-"
    rows = list(csv.DictReader(io.StringIO(c.get(f"/analyse/data.csv?{q}").text)))
    assert len(rows) == _k(c.get(f"/analyse/result?{q}").text)
    assert abs(sum(float(r["weight_percent"]) for r in rows) - 100) < 1e-6
    assert c.get("/analyse/figure.gif").status_code == 404


# ------------------------------------------------------------------ data entry
def test_add_study_through_forms_reaches_the_analysis(app, client_for):
    c, token = client_for("extractor")
    before = _k(c.get("/analyse/result?analysis=ais_improved_prop").text)
    add_study(c, token, "webtest2024")
    r = c.get("/studies/webtest2024")
    assert r.status_code == 200 and "18 of 20 patients improved" in r.text
    after = c.get("/analyse/result?analysis=ais_improved_prop")
    assert _k(after.text) == before + 1
    assert "Testauthor 2024" in after.text  # in the table behind the plot or the figure
    hist = app.state.ctx.store.history()
    assert set(hist["user"].tail(3)) == {USERS["extractor"]}


def test_bad_value_is_refused_inline_and_nothing_stored(app, client_for):
    c, token = client_for("extractor")
    before = (n_studies(app), n_changes(app))
    r = post(
        c, token, "/data/studies/new", study_form("badyear", year="twenty", design="astrology")
    )
    assert r.status_code == 422
    errors = dict(re.findall(r'data-field="(\w+)">([^<]+)<', r.text))
    assert "year" in errors and "design" in errors
    assert 'value="twenty"' in r.text  # what the user typed is kept
    r = post(
        c,
        token,
        "/data/outcomes/new",
        outcome_form("mendonca-2014", outcome_id="m:x", n="5", events="9"),
    )
    assert r.status_code == 422
    r = post(c, token, "/data/studies/new", study_form("mendonca-2014"))
    assert r.status_code == 422 and "exists already" in r.text
    assert (n_studies(app), n_changes(app)) == before


def test_edit_history_diff_and_revert(app, client_for):
    ext, t1 = client_for("extractor")
    add_study(ext, t1, "edit2024")
    r = post(ext, t1, "/data/arms/edit/edit2024:treated", arm_form("edit2024", n="25"))
    assert r.status_code == 303
    ev = app.state.ctx.evidence()[1]
    assert int(ev.arms.set_index("arm_id").loc["edit2024:treated", "n"]) == 25
    change_id = last_change_of(app, "edit2024")
    page = ext.get(f"/history/{change_id}")
    assert page.status_code == 200
    assert re.search(r"<td>n</td><td class=\"old\">20</td><td class=\"new\">25</td>", page.text)
    assert 'id="revert-form"' not in page.text  # extractors may not revert
    ed, t2 = client_for("editor")
    assert 'id="revert-form"' in ed.get(f"/history/{change_id}").text
    r = post(ed, t2, f"/history/{change_id}/revert", {})
    assert r.status_code == 303
    ev = app.state.ctx.evidence()[1]
    assert int(ev.arms.set_index("arm_id").loc["edit2024:treated", "n"]) == 20
    assert app.state.ctx.store.history()["user"].iloc[-1] == USERS["editor"]
    audit = ed.get("/audit").text
    assert "revert" in audit and USERS["extractor"] in audit


def test_upload_preview_then_apply(app, client_for):
    c, token = client_for("extractor")
    ev = app.state.ctx.evidence()[1]
    from sci_evidence.evidence.io import frame_as_text

    arm = ev.arms[ev.arms["arm_id"] == "bydon-2024:treated"].copy()
    arm.loc[:, "n"] = 11
    buf = io.StringIO()
    frame_as_text(arm, "arms").to_csv(buf, index=False)
    before = n_changes(app)
    files = {"file": ("arms.csv", buf.getvalue().encode(), "text/csv")}
    assert c.post("/upload", data={"csrftoken": token}, files=files).status_code == 403
    hdr = {"x-csrftoken": token}
    r = c.post("/upload", headers=hdr, files=files)
    assert r.status_code == 200, r.text[:800]
    assert "bydon-2024" in r.text and '<td class="old">10</td><td class="new">11</td>' in r.text
    assert n_changes(app) == before  # a preview writes nothing
    up_token = re.search(r'name="token" value="([^"]+)"', r.text).group(1)
    r = post(c, token, "/upload/apply", {"token": up_token})
    assert r.status_code == 303
    ev = app.state.ctx.evidence()[1]
    assert int(ev.arms.set_index("arm_id").loc["bydon-2024:treated", "n"]) == 11
    change = c.get(f"/history/{last_change_of(app, 'bydon-2024')}").text
    assert '<td class="old">10</td><td class="new">11</td>' in change
    # a bad file: every problem listed, nothing written
    bad = buf.getvalue().replace(",11,", ",-3,")
    r = c.post("/upload", headers=hdr, files={"file": ("arms.csv", bad.encode(), "text/csv")})
    assert r.status_code == 422 and "Nothing was written" in r.text
    r = c.post("/upload", headers=hdr, files={"file": ("x.exe", b"MZ", "application/octet-stream")})
    assert r.status_code == 400


# ------------------------------------------------------------------ XSS
def test_xss_payloads_render_as_text(app, client_for):
    c, token = client_for("extractor")
    text_fields = {
        "first_author": XSS,
        "title": XSS,
        "journal": XSS,
        "country": XSS,
        "notes": XSS,
        "flags": XSS,
        "design_verbatim": XSS,
        "verbatim": XSS,
        "where_in_source": XSS,
        "source_key": XSS,
    }
    add_study(
        c,
        token,
        "xss2024",
        study=text_fields,
        arm={"arm_label": XSS, "notes": XSS, "dose_verbatim": XSS, "verbatim": XSS},
        outcome={"notes": XSS, "outcome_verbatim": XSS, "verbatim": XSS, "timepoint": XSS},
    )
    pages = [
        "/studies/xss2024",
        "/studies?q=xss",
        "/analyse/result?analysis=ais_improved_prop",
        "/history",
        "/audit",
        "/rob",
    ]
    pages.append(f"/history/{last_change_of(app, 'xss2024')}")
    for url in pages:
        html = c.get(url).text
        assert "<script>alert" not in html, url
        assert "<img src=x" not in html, url
    study = c.get("/studies/xss2024").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in study
    svg = c.get("/analyse/figure.svg?analysis=ais_improved_prop").text
    assert "<script" not in svg
    # a formula in a text cell is neutralised in the CSV download
    add_study(
        c,
        token,
        "formula2024",
        study={"first_author": "=HYPERLINK(1)"},
        outcome={"outcome_id": "formula2024:1"},
    )
    data = c.get("/analyse/data.csv?analysis=ais_improved_prop").text
    assert "'=HYPERLINK" in data and "\n=HYPERLINK" not in data


# ------------------------------------------------------------------ risk of bias
def _rob_answers(judgement: str, who: str = "first") -> dict:
    from sci_evidence.web.rob import JBI

    out = {"action": "done"}
    for d in JBI.domains:
        out[f"{d.id}__{d.questions[0].id}"] = judgement
        out[f"{d.id}__support"] = f"quote-of-{who} {XSS}"
    return out


def test_rob_pair_blinded_disagree_resolve_and_kappa(app, client_for):
    sid = "mendonca-2014"  # a single-arm trial: the JBI case-series checklist
    a1, t1 = client_for("assessor")
    a2, t2 = client_for("assessor2")
    form = a1.get(f"/rob/{sid}")
    assert form.status_code == 200 and "JBI" in form.text
    r = post(a1, t1, f"/rob/{sid}", {**_rob_answers("yes"), "Q3__Q3": "no"})
    assert r.status_code == 303
    # blinded: the second assessor sees nothing of the first's answers
    page = a2.get(f"/rob/{sid}/compare").text
    assert 'id="rob-waiting"' in page and "quote-of-first" not in page
    assert "quote-of-first" not in a2.get(f"/rob/{sid}").text
    assert post(a2, t2, f"/rob/{sid}/consensus", {}).status_code == 409
    r = post(a2, t2, f"/rob/{sid}", _rob_answers("yes", "second"))
    assert r.status_code == 303
    page = a2.get(f"/rob/{sid}/compare").text
    assert page.count('class="disagree"') == 1 and 'data-domain="Q3"' in page
    assert "quote-of-first" in page and "quote-of-second" in page
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    # a finished assessment cannot be changed
    assert post(a1, t1, f"/rob/{sid}", _rob_answers("no")).status_code == 409
    # kappa: 10 items, 9 agree; A: 9 yes 1 no, B: 10 yes → p_o=0.9, p_e=0.9 → kappa 0
    kappa = a1.get("/rob/agreement").text
    assert re.search(r'class="kappa-all">0.00<', kappa)
    # a viewer may not resolve; the pair may
    v, tv = client_for("viewer")
    assert post(v, tv, f"/rob/{sid}/consensus", {}).status_code == 403
    consensus = {f"Q{i}__judgement": "yes" for i in range(1, 11)}
    r = post(a1, t1, f"/rob/{sid}/consensus", consensus)
    assert r.status_code == 303
    assert 'id="consensus-recorded"' in a1.get(f"/rob/{sid}/compare").text
    rob_rows = app.state.ctx.evidence()[1].risk_of_bias
    # the bundled base already holds this study's curated assessment (another tool): the
    # consensus is stored beside it under its own tool
    mine = rob_rows[(rob_rows["study_id"] == sid) & (rob_rows["tool"] == "case_series_checklist")]
    assert len(mine) == 10 and set(mine["judgement"]) == {"yes"}


def test_rob2_form_suggests_a_judgement(client_for):
    c, token = client_for("assessor")
    ev = c.app.state.ctx.evidence()[1]
    sid = ev.studies.loc[ev.studies["design"] == "rct", "study_id"].iloc[0]
    r = post(
        c,
        token,
        f"/rob/{sid}",
        {
            "action": "save",
            "randomisation__1.1": "Y",
            "randomisation__1.2": "N",
            "randomisation__1.3": "N",
        },
    )
    assert r.status_code == 200
    assert "algorithm suggests: <strong>high</strong>" in r.text
    r = post(c, token, f"/rob/{sid}", {"action": "done"})
    assert r.status_code == 200 and "a judgement is needed for every domain" in r.text


# ------------------------------------------------------------------ review runs
@pytest.mark.slow
def test_review_run_report_zip_and_changes(app, client_for, monkeypatch):
    import zipfile

    ed, token = client_for("editor")
    ctx = app.state.ctx
    v, tv = client_for("viewer")
    assert post(v, tv, "/reviews", {}).status_code == 403
    # the first run in the foreground (wait), then a second after a data change
    ev = ctx.evidence()[1]
    r1 = ctx.runs.start(ev, "edda", wait=True)
    assert ctx.runs.get(r1)["status"] == "done", ctx.runs.state[r1].message
    add_study(*client_for("extractor"), "run2024")
    r = post(ed, token, "/reviews", {})
    assert r.status_code == 303
    r2 = max(ctx.runs.state)
    assert ctx.runs.join(timeout=300)
    assert ctx.runs.get(r2)["status"] == "done", ctx.runs.state[r2].message
    prog = ed.get(f"/reviews/{r2}/progress").text
    assert "done" in prog
    report = ed.get(f"/reviews/{r2}/report")
    assert report.status_code == 200 and "sandbox" in report.headers["content-security-policy"]
    z = zipfile.ZipFile(io.BytesIO(ed.get(f"/reviews/{r2}/review.zip").content))
    assert any(n.endswith("report.html") for n in z.namelist())
    changes = ed.get(f"/reviews/{r2}/changes").text
    assert 'id="run-diff"' in changes and "ais_improved_prop" in changes


def test_excel_upload_preview(app, client_for, tmp_path):
    from sci_evidence.evidence.io import write_evidence_file

    c, token = client_for("extractor")
    ev = app.state.ctx.evidence()[1]
    study = ev.studies[ev.studies["study_id"] == "bydon-2024"].copy()
    study.loc[:, "country"] = "Atlantis"
    frames = {"studies": study}
    for name in ("arms", "outcomes", "adverse_events"):
        df = getattr(ev, name)
        frames[name] = df[df["study_id"] == "bydon-2024"]
    path = write_evidence_file(frames, tmp_path / "bydon.xlsx")
    r = c.post(
        "/upload",
        headers={"x-csrftoken": token},
        files={
            "file": (
                "bydon.xlsx",
                path.read_bytes(),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        },
    )
    assert r.status_code == 200, r.text[:500]
    assert "whole study is replaced" in r.text and "Atlantis" in r.text


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example/"])
def test_login_never_redirects_off_site(client_for, target):
    c, token = client_for(None)
    r = c.post(
        "/login",
        params={"next": target},
        data={"username": USERS["viewer"], "password": PASSWORD, "csrftoken": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/studies"


def test_login_returns_to_the_page_asked_for(client_for):
    c, token = client_for(None)
    r = c.get("/analyse?analysis=ae_any_prop", follow_redirects=False)
    assert r.headers["location"] == "/login?next=%2Fanalyse%3Fanalysis%3Dae_any_prop"
    r = c.post(
        "/login",
        params={"next": "/analyse?analysis=ae_any_prop"},
        data={"username": USERS["viewer"], "password": PASSWORD, "csrftoken": token},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/analyse?analysis=ae_any_prop"


# ------------------------------------------------------------------ background threads
def _alive(name: str) -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


def test_warming_thread_lives_inside_the_server_lifespan(db_url, tmp_path):
    """A thread still drawing with matplotlib at interpreter exit aborts the process
    ("terminate called without an active exception"): creating the app starts nothing, the
    server's start starts the warming, and its shutdown stops and joins it."""
    from starlette.testclient import TestClient

    from sci_evidence.web.app import create_app

    application = create_app(db_url, secret_key="s", runs_dir=tmp_path / "runs", warm=True)
    try:
        assert not _alive("warm-analyses")
        with TestClient(application) as c:
            assert c.get("/login").status_code == 200
        assert not _alive("warm-analyses")
    finally:
        application.state.ctx.store.dispose()


def test_warm_cache_stops_when_asked(app):
    import threading

    from sci_evidence.web.app import warm_cache

    stop = threading.Event()
    stop.set()
    warm_cache(app.state.ctx, stop)
    assert len(app.state.ctx.cache) == 0
    warm_cache(app.state.ctx)
    assert len(app.state.ctx.cache) == len(app.state.ctx.protocol.analyses)


def test_revert_of_a_row_changed_again_later_is_refused_with_the_reason(app, client_for):
    """The store's revert refuses when a later change edited the same row: the page says so
    (400, one message naming the later change) and nothing is written."""
    ext, t1 = client_for("extractor")
    add_study(ext, t1, "twice2024")
    for n in ("25", "30"):
        r = post(ext, t1, "/data/arms/edit/twice2024:treated", arm_form("twice2024", n=n))
        assert r.status_code == 303
    h = app.state.ctx.store.history()
    first, second = (int(x) for x in h.loc[h["study_id"] == "twice2024", "id"].iloc[-2:])
    ed, t2 = client_for("editor")
    before = n_changes(app)
    r = post(ed, t2, f"/history/{first}/revert", {})
    assert r.status_code == 400
    assert str(second) in r.text
    assert n_changes(app) == before
    ev = app.state.ctx.evidence()[1]
    assert int(ev.arms.set_index("arm_id").loc["twice2024:treated", "n"]) == 30

"""The review report writer: the folder is swapped in whole or not at all, the tables and the
page read the one serialisation, user text cannot break a figure or a spreadsheet, and bad
input is one line."""

from __future__ import annotations

import ast
import contextlib
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from sci_evidence.evidence import load_evidence
from sci_evidence.report.writer import write_review
from sci_evidence.review.pipeline import run_review
from sci_evidence.review.protocol import parse_protocol

SMALL = """
title = "small review"
seed = 7
[[analyses]]
id = "ais"
outcome = "ais_improved"
design = "single_arm"
measure = "PLO"
subgroups = ["route"]
"""
HOSTILE_AUTHOR = "Jiang $\\frac{$"
FORMULA = '=HYPERLINK("http://x","y")'


@pytest.fixture(scope="module")
def hostile_evidence():
    """The bundled base with a first author that is broken mathtext and a country that is
    a spreadsheet formula, on a study that enters the pooled analysis."""
    ev = load_evidence()
    studies = ev.studies.copy()
    sid = "tien-2019"
    assert sid in set(studies["study_id"])
    studies["first_author"] = studies["first_author"].astype(object)
    studies["country"] = studies["country"].astype(object)
    studies.loc[studies["study_id"] == sid, "first_author"] = HOSTILE_AUTHOR
    # the stored label is what a person reads (it wins over first_author and year)
    studies["label"] = studies["label"].astype(object)
    studies.loc[studies["study_id"] == sid, "label"] = HOSTILE_AUTHOR
    studies.loc[studies["study_id"] == sid, "country"] = FORMULA
    arms = ev.arms.copy()
    arms["route_group"] = arms["route_group"].astype(object)
    arms.loc[arms["study_id"] == sid, "route_group"] = "iv $\\frac{$"  # a block header
    return replace(ev, studies=studies, arms=arms)


@pytest.fixture(scope="module")
def small_review(hostile_evidence):
    return run_review(hostile_evidence, parse_protocol(SMALL))


@pytest.fixture(scope="module")
def written(small_review, tmp_path_factory):
    out = tmp_path_factory.mktemp("w") / "report"
    files = write_review(small_review, out)
    return out, files


def test_hostile_author_is_drawn_literally(written):
    out, _ = written
    svg = (out / "figures" / "forest_ais.svg").read_text()
    assert "Jiang" in svg and "frac" in svg  # drawn as text, not parsed as mathtext
    by_route = (out / "figures" / "forest_ais_by_route.svg").read_text()
    assert "iv" in by_route and "frac" in by_route
    html = (out / "report.html").read_text()
    assert "Jiang $\\frac{$" in html  # autoescaped text keeps the characters


def test_csv_text_cells_are_neutralised_numbers_stay_numbers(written):
    out, _ = written
    chars = pd.read_csv(out / "tables" / "study_characteristics.csv")
    cell = chars.loc[chars["study_id"] == "tien-2019", "country"].iloc[0]
    assert cell == "'" + FORMULA
    pooled = pd.read_csv(out / "tables" / "pooled_results.csv")
    assert pooled["estimate"].dtype == float and pooled["k"].iloc[0] > 0


def test_default_figures_are_svg_only_and_listed(written):
    out, files = written
    assert {p.suffix for p in (out / "figures").iterdir()} == {".svg"}
    record = json.loads((out / "run_record.json").read_text())
    assert record["files"] == files and "run_record.json" in files
    assert all((out / f).is_file() for f in files)


def test_png_and_pdf_on_request(small_review, tmp_path):
    out = tmp_path / "r"
    files = write_review(small_review, out, figures=("pdf", "png"))
    assert {"figures/forest_ais.png", "figures/forest_ais.pdf", "figures/forest_ais.svg"} <= set(
        files
    )
    assert (out / "figures" / "forest_ais.png").read_bytes()[:4] == b"\x89PNG"


def test_unknown_figure_format_is_an_input_error(small_review, tmp_path):
    from sci_evidence.errors import InputError

    with pytest.raises(InputError, match="unknown figure format"):
        write_review(small_review, tmp_path / "r", figures=("gif",))
    assert not (tmp_path / "r").exists()


def test_results_json_carries_convergence_and_one_shape_for_loo_and_cumulative(written):
    out, _ = written
    d = json.loads((out / "results.json").read_text())
    main = next(e for e in d["analyses"] if e["id"] == "ais")
    assert main["pooled"]["converged"] is True and main["pooled"]["n_iter"] >= 1
    loo, cum = main["robustness"]["leave_one_out"], main["robustness"]["cumulative"]
    k = main["pooled"]["k"]
    for block in (loo, cum):
        assert len(block["study"]) == k and len(block["estimate"]) == k
        assert {"method", "test", "level"} <= set(block)
    tables = {p.stem for p in (out / "tables").glob("*.csv")}
    assert {"leave_one_out", "cumulative"} <= tables
    # the CSV pooled row is the results.json entry
    pooled = pd.read_csv(out / "tables" / "pooled_results.csv").iloc[0]
    assert pooled["estimate_model"] == pytest.approx(main["pooled"]["estimate"], abs=1e-15)
    assert bool(pooled["converged"]) is True


@pytest.mark.parametrize("fault", [RuntimeError("injected"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_previous_report_and_nothing_partial(
    small_review, tmp_path, monkeypatch, fault
):
    import sci_evidence.report.html as html

    out = tmp_path / "report"
    out.mkdir()
    (out / "report.html").write_text("the previous report")

    def boom(*a, **k):
        raise fault

    monkeypatch.setattr(html, "report_chunks", boom)
    with pytest.raises(type(fault)):
        write_review(small_review, out)
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no temporary folder left
    assert [p.name for p in out.iterdir()] == ["report.html"]
    assert (out / "report.html").read_text() == "the previous report"


def test_a_failed_cli_review_keeps_the_previous_report(tmp_path, monkeypatch, capsys):
    import sci_evidence.report.html as html
    from sci_evidence.cli import main

    proto = tmp_path / "p.toml"
    proto.write_text(SMALL)
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.html").write_text("the previous report")

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(html, "report_chunks", interrupted)
    # (the exit status of an interrupt is the CLI root's business; typer returns 130)
    with contextlib.suppress(SystemExit):
        main(["review", "--protocol", str(proto), "--out", str(out), "--quiet"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml", "report"]
    assert (out / "report.html").read_text() == "the previous report"


@pytest.mark.parametrize(
    "make_out,message",
    [
        (lambda t: t / "missing" / "r", "does not exist"),
        (lambda t: t / "file.txt" / "r", "below a regular file"),
        (lambda t: t / "file.txt", "must be a folder"),
    ],
)
def test_bad_out_is_one_line_exit_2(tmp_path, capsys, make_out, message):
    from sci_evidence.cli import main

    (tmp_path / "file.txt").write_text("keep me")
    with pytest.raises(SystemExit) as exc:
        main(["review", "--out", str(make_out(tmp_path)), "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert (tmp_path / "file.txt").read_text() == "keep me"


def test_out_cannot_be_the_current_folder(tmp_path, capsys, monkeypatch):
    from sci_evidence.cli import main

    monkeypatch.chdir(tmp_path)
    for out in (".", ".."):
        with pytest.raises(SystemExit) as exc:
            main(["review", "--out", out, "--quiet"])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and "not the current folder" in err
    assert list(tmp_path.iterdir()) == []


def test_bad_figures_option_is_one_line_exit_2(tmp_path, capsys):
    from sci_evidence.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["review", "--out", str(tmp_path / "r"), "--figures", "png,bmp", "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "bmp" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "text,fmt",
    [("a = " + "[" * 50_000 + "]" * 50_000, "toml"), ("[" * 50_000 + "]" * 50_000, "yaml")],
)
def test_deeply_nested_protocol_is_one_line(tmp_path, capsys, text, fmt):
    from sci_evidence.cli import main

    proto = tmp_path / f"p.{fmt}"
    proto.write_text(text)
    with pytest.raises(SystemExit) as exc:
        main(["review", "--protocol", str(proto), "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "nested too deeply" in err and str(proto) in err
    assert len(err.strip().splitlines()) == 1


def test_fit_warnings_are_recorded_and_shown(hostile_evidence, tmp_path, monkeypatch):
    import warnings

    from sci_evidence import meta
    from sci_evidence.errors import DataWarning

    real = meta.subgroups

    def warning_subgroups(*a, **k):
        warnings.warn("tau^2 did not converge in group x", DataWarning, stacklevel=2)
        return real(*a, **k)

    monkeypatch.setattr(meta, "subgroups", warning_subgroups)
    r = run_review(hostile_evidence, parse_protocol(SMALL))
    a = r.analysis("ais")
    assert ("subgroups by route", "DataWarning: tau^2 did not converge in group x") in a.warnings
    out = tmp_path / "r"
    write_review(r, out)
    entry = next(e for e in json.loads((out / "results.json").read_text())["analyses"])
    assert {
        "step": "subgroups by route",
        "message": "DataWarning: tau^2 did not converge in group x",
    } in entry["warnings"]
    assert "tau^2 did not converge in group x" in (out / "report.html").read_text()


def test_a_bug_in_a_diagnostic_raises(hostile_evidence, monkeypatch):
    from sci_evidence import meta

    def broken(*a, **k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(meta, "egger_test", broken)
    with pytest.raises(ZeroDivisionError):
        run_review(hostile_evidence, parse_protocol(SMALL))


def test_the_review_imports_neither_report_nor_cli():
    import sci_evidence.review as review

    for path in Path(review.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                assert not n.startswith(("sci_evidence.report", "sci_evidence.cli")), path

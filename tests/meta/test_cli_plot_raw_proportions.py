"""`sci-evidence meta --plot` of an inverse-variance model of proportions given as counts draws
each study's raw x/n with its exact Clopper–Pearson interval (issue 14, section 2: "whatever
scale the model was fitted on"), not the back-transformed Wald interval of its yi."""

from __future__ import annotations

import numpy as np
import pytest

from sci_evidence.meta import proportion_ci
from support.cli_run import run
from support.forest_lines import study_whiskers

XI = [0, 2, 5, 1, 10, 3, 0]
NI = [12, 30, 25, 1, 10, 40, 8]


def _csv(tmp_path):
    path = tmp_path / "props.csv"
    rows = ["study,events,total"] + [
        f"s{i + 1},{x},{n}" for i, (x, n) in enumerate(zip(XI, NI, strict=True))
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("measure", ["PLO", "PFT", "PAS", "PR"])
def test_meta_plot_of_proportions_draws_raw_counts_with_clopper_pearson(
    tmp_path, capsys, monkeypatch, measure
):
    from sci_evidence.cli import meta as cli_meta

    drawn = {}
    real_save = cli_meta.save_figure

    def capture(fig, path, **kw):
        drawn["whiskers"] = study_whiskers(fig, len(XI))
        return real_save(fig, path, **kw)

    monkeypatch.setattr(cli_meta, "save_figure", capture)
    png = tmp_path / "f.png"
    argv = ["meta", str(_csv(tmp_path)), "--measure", measure, "--xi", "events", "--ni", "total"]
    code, _, _ = run([*argv, "--label", "study", "--plot", str(png)], capsys)
    assert code == 0 and png.stat().st_size > 0
    lo, hi = proportion_ci(np.array(XI), np.array(NI))
    got = np.array(drawn["whiskers"])
    assert got.shape == (len(XI), 2)
    # the 1/1 study is drawn from its exact lower bound 0.025 up to 1, not at a corrected 0.75
    np.testing.assert_allclose(got[:, 0], lo, atol=1e-12)
    np.testing.assert_allclose(got[:, 1], hi, atol=1e-12)

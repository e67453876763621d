"""Property: any values a reviewer can type survive export → read → validate unchanged."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sci_evidence.evidence.io import read_evidence_file, write_evidence_file
from sci_evidence.evidence.validate import validate_tables

from ._builders import small_frames

text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
    max_size=40,
).map(str.strip)
floats = st.floats(min_value=0, max_value=100, allow_nan=False, allow_infinity=False)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    verbatim=text,
    notes=text,
    mean=floats,
    sd=floats,
    dose=st.floats(1, 1e12),
    ext=st.sampled_from(["csv", "json", "xlsx"]),
)
def test_values_round_trip_exactly(tmp_path_factory, verbatim, notes, mean, sd, dose, ext):
    if ext == "xlsx":
        # Excel stores 15 significant digits (documented); typed values never need more.
        mean, sd, dose = (float(f"{x:.12g}") for x in (mean, sd, dose))
    frames = small_frames()
    o = frames["outcomes"]
    o.loc[4, ["verbatim", "notes"]] = [verbatim, notes]
    o.loc[4, ["mean", "sd"]] = [mean, sd]
    frames["arms"].loc[0, "dose_cells"] = dose
    frames["studies"].loc[0, "verbatim"] = verbatim
    path = tmp_path_factory.mktemp("rt") / f"f.{ext}"
    write_evidence_file(frames, path)
    rep = validate_tables(read_evidence_file(path))
    assert rep.ok, rep.summary()
    for name, df in frames.items():
        pd.testing.assert_frame_equal(rep.frames[name], df, check_exact=True)
    assert math.isclose(rep.frames["arms"].loc[0, "dose_cells"], dose, rel_tol=0)


def test_awkward_text_survives_every_format(tmp_path):
    awkward = [
        "=1+2",
        "+cmd",
        "-1",
        "@x",
        "NA",
        "None",
        "nan",
        "1.0",
        "007",
        "a,b",
        'say "hi"',
        "line1\nline2",
        "Mendonça ≤7 d → C/D",
        "TRUE",
    ]
    for ext in ("csv", "json", "xlsx"):
        frames = small_frames()
        o = frames["outcomes"]
        for i, text in enumerate(awkward[:5]):
            o.loc[i, "verbatim"] = text
        frames["arms"].loc[0, "notes"] = " | ".join(awkward)
        frames["arms"].loc[1, "notes"] = awkward[8]
        frames["studies"].loc[0, "verbatim"] = awkward[0]
        frames["studies"].loc[0, "pmid"] = awkward[8]
        path = write_evidence_file(frames, tmp_path / f"a.{ext}")
        rep = validate_tables(read_evidence_file(path))
        assert rep.ok, rep.summary()
        for name, df in frames.items():
            pd.testing.assert_frame_equal(
                rep.frames[name], df, check_exact=True, obj=f"{ext}:{name}"
            )

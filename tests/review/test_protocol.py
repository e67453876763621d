"""The protocol format: the bundled default, TOML and YAML, and one-line errors that name the
file and the key."""

from __future__ import annotations

import json

import pytest

from sci_evidence.errors import InputError
from sci_evidence.review.protocol import (
    default_protocol_text,
    load_protocol,
    parse_protocol,
)

MINIMAL = """
title = "t"
[[analyses]]
id = "a"
outcome = "ais_improved"
design = "single_arm"
measure = "PLO"
"""


def test_bundled_default_asks_the_questions_of_the_issue():
    p = load_protocol()
    ids = {a.id for a in p.analyses}
    assert {
        "ais_improved_prop",
        "ais_improved_rr",
        "ais_improved_rd",
        "motor_change",
        "motor_md",
        "ae_any_prop",
    } <= ids
    a = p.analysis("ais_improved_prop")
    assert a.measure == "PLO" and a.method == "REML"
    assert {"baseline_group", "route", "cell_source", "injury_phase"} <= set(a.subgroups)
    assert a.moderators == ("log_dose",)
    assert a.natural_history == "conversion"
    assert p.analysis("motor_change").natural_history == "scores"
    assert {s.domain for s in p.syntheses} == {"neurophysiology", "urodynamics", "mri"}
    assert p.inclusion.culture_expanded_msc_only and p.inclusion.exclude_combination_products
    assert p.source == "<bundled default>"
    json.dumps(p.to_dict())


def test_defaults_fill_in_and_yaml_reads_the_same(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text(MINIMAL)
    yaml_file = tmp_path / "p.yaml"
    yaml_file.write_text(
        "title: t\nanalyses:\n  - id: a\n    outcome: ais_improved\n    design: single_arm\n"
        "    measure: PLO\n"
    )
    a, b = load_protocol(toml), load_protocol(yaml_file)
    assert a.analyses == b.analyses
    spec = a.analyses[0]
    assert (spec.method, spec.test, spec.ri, spec.robustness) == ("REML", "z", 0.5, True)
    assert a.level == 0.95 and a.min_studies_subgroup == 3


def test_defaults_table_sets_method_and_test():
    text = 'title = "t"\n[defaults]\nmethod = "DL"\ntest = "knha"\n' + MINIMAL.replace(
        'title = "t"', ""
    )
    p = parse_protocol(text)
    assert (p.analyses[0].method, p.analyses[0].test) == ("DL", "knha")


@pytest.mark.parametrize(
    "text, key, value",
    [
        (MINIMAL.replace('measure = "PLO"', 'measure = "RR"'), "analyses[1].measure", "RR"),
        (
            MINIMAL.replace('design = "single_arm"', 'design = "cohort"'),
            "analyses[1].design",
            "cohort",
        ),
        (MINIMAL + 'method = "XYZ"\n', "analyses[1].method", "XYZ"),
        (MINIMAL + 'colour = "red"\n', "analyses[1].colour", None),
        (MINIMAL + 'subgroups = ["shoe_size"]\n', "analyses[1].subgroups", "shoe_size"),
        (MINIMAL + "robustness = 1\n", "analyses[1].robustness", 1),
        (
            MINIMAL + 'natural_history = "scores"\n'.replace("scores", "tides"),
            "analyses[1].natural_history",
            "tides",
        ),
        ('seed = "x"\n' + MINIMAL, "seed", "x"),
        ("level = 2.0\n" + MINIMAL, "level", 2.0),
        ('title = "t"\n', "analyses", None),
        (
            MINIMAL
            + '[[analyses]]\nid = "a"\noutcome = "x"\ndesign = "controlled"\nmeasure = "RR"\n',
            "analyses[2].id",
            "a",
        ),
        (MINIMAL.replace('id = "a"', 'id = "a b"'), "analyses[1].id", "a b"),
        (
            MINIMAL + '[[comparisons]]\nanalysis = "zz"\npublished = "x"\n',
            "comparisons[1].analysis",
            "zz",
        ),
        (MINIMAL + "[grade]\nois_patients = -3\n", "grade.ois_patients", -3),
        (MINIMAL + "[inclusion]\nall = true\n", "inclusion.all", None),
        (
            MINIMAL + '[[syntheses]]\nid = "s"\ndomain = "mri"\noutcomes = []\n',
            "syntheses[1].outcomes",
            None,
        ),
        ("schema_version = 7\n" + MINIMAL, "schema_version", 7),
    ],
)
def test_errors_name_file_key_and_value(text, key, value):
    with pytest.raises(InputError) as err:
        parse_protocol(text, source="my.toml")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("my.toml: ")
    assert f"key '{key}'" in msg
    if value is not None:
        assert repr(value) in msg


def test_natural_history_only_for_single_arm():
    text = MINIMAL.replace('design = "single_arm"', 'design = "controlled"').replace("PLO", "RR")
    with pytest.raises(InputError, match="single_arm analyses only"):
        parse_protocol(text + 'natural_history = "conversion"\n')


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_protocol(tmp_path / "missing.toml")
    bad = tmp_path / "p.json"
    bad.write_text("{}")
    with pytest.raises(InputError, match=r"\.toml, \.yaml or \.yml"):
        load_protocol(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("title = \n")
    with pytest.raises(InputError) as err:
        load_protocol(broken)
    assert str(broken) in str(err.value) and "not valid TOML" in str(err.value)
    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("title: [\n")
    with pytest.raises(InputError, match="not valid YAML") as err:
        load_protocol(broken_yaml)
    assert "\n" not in str(err.value)


def test_default_text_is_the_bundled_file():
    assert "[[analyses]]" in default_protocol_text()

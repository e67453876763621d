"""The bundled evidence base is exactly what the curation script builds from its data files."""

from __future__ import annotations

from sci_evidence.evidence.bundled import DATA_DIR
from sci_evidence.evidence.columns import FRAME_NAMES


def test_rebuild_equals_bundled_byte_for_byte(curate, tmp_path):
    curate.write(curate.build(), tmp_path)
    for name in FRAME_NAMES:
        built = (tmp_path / f"{name}.csv").read_bytes()
        bundled = (DATA_DIR / f"{name}.csv").read_bytes()
        assert built == bundled, f"{name}.csv differs from the rebuild: run python tools/curate.py"


def test_curation_lives_outside_the_package():
    package = DATA_DIR.parent
    assert not (package / "curate.py").exists()
    assert not (DATA_DIR / "raw").exists()
    assert sorted(p.suffix for p in DATA_DIR.iterdir()) == [".csv"] * len(FRAME_NAMES) + [".md"]

"""The bundled evidence base: curated CSV files shipped inside the package."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from sci_evidence.evidence.columns import FRAME_NAMES, frame_from_text
from sci_evidence.evidence.model import EvidenceSet

DATA_DIR = Path(__file__).parent / "data"


def read_bundled_frames(data_dir: Path = DATA_DIR) -> dict[str, pd.DataFrame]:
    """Read the curated CSV files of ``data_dir`` into typed frames (fresh copies)."""
    return {name: df.copy() for name, df in _cached(str(data_dir)).items()}


@lru_cache(maxsize=4)
def _cached(data_dir: str) -> dict[str, pd.DataFrame]:
    frames = {}
    for name in FRAME_NAMES:
        text = pd.read_csv(Path(data_dir) / f"{name}.csv", dtype=str, keep_default_na=False)
        frames[name] = frame_from_text(text, name)
    return frames


def load_bundled() -> EvidenceSet:
    """The bundled evidence base (no database needed)."""
    return EvidenceSet.from_frames(read_bundled_frames(), origin="bundled")

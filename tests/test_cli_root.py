"""The command-line root: version and the one-line error contract."""

import subprocess
import sys

from sci_evidence import __version__
from sci_evidence.errors import InputError


def test_version_is_printed():
    out = subprocess.run(
        [sys.executable, "-m", "sci_evidence", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout.strip() == f"sci-evidence {__version__}"


def test_input_error_names_file_row_column_and_value():
    err = InputError("must be a number", file="data.csv", row=3, column="vi", value="abc")
    assert str(err) == "data.csv, row 3, column 'vi': must be a number (value: 'abc')"
    assert isinstance(err, ValueError)

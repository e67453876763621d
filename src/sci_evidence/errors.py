"""One exception tree for the whole package.

User mistakes raise :class:`InputError` (or another :class:`SciEvidenceError`); the CLI catches
the base class once, prints one line ``Error: ...`` and exits with code 2. Bugs raise as they are.
"""

from __future__ import annotations

from typing import Any


class SciEvidenceError(Exception):
    """Base class of every error that sci-evidence raises on purpose."""


class InputError(SciEvidenceError, ValueError):
    """Bad input: a file, row, column or value that cannot be used.

    The message is one line and names, where known, the file, the row (1-based, as a
    spreadsheet shows it; the header is row 1 in a CSV), the column and the value.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | str | None = None,
        column: str | None = None,
        value: Any = None,
    ) -> None:
        self.reason = message
        self.file = file
        self.row = row
        self.column = column
        self.value = value
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        prefix = ", ".join(where)
        text = self.reason
        if self.value is not None:
            text = f"{text} (value: {self.value!r})"
        return f"{prefix}: {text}" if prefix else text

    def with_file(self, file: str) -> InputError:
        """The same error, naming ``file`` (used by edges that know the file name)."""
        return InputError(
            self.reason, file=file, row=self.row, column=self.column, value=self.value
        )


class ConvergenceError(SciEvidenceError, RuntimeError):
    """An iterative estimator did not converge and no safe fallback exists."""


class NotFoundError(SciEvidenceError, LookupError):
    """A named thing (study, table, analysis) does not exist."""


class ConvergenceWarning(UserWarning):
    """An iterative estimator needed a fallback or stopped early; the result says which."""


class DataWarning(UserWarning):
    """Input was usable but something was dropped, assumed or ignored; the message says what."""

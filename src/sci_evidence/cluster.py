"""Connecting to a Dask cluster for ``--scheduler ADDRESS`` (the optional ``[dask]`` extra).

``dask.distributed`` is imported only here and only when a scheduler is asked for; without it
the user gets one line saying how to install it. See docs/scale.md for starting a cluster.
"""

from __future__ import annotations

from typing import Any

from .errors import InputError

INSTALL_HINT = 'pip install "sci-evidence[dask]"'


def connect(address: str, *, timeout: float = 10.0) -> Any:
    """A ``dask.distributed.Client`` connected to the scheduler at ``address``
    (``tcp://host:8786``); one-line :class:`InputError` when dask is missing or the
    scheduler cannot be reached within ``timeout`` seconds."""
    try:
        from distributed import Client
    except ImportError:
        raise InputError(
            f"--scheduler needs dask.distributed, which is not installed: {INSTALL_HINT}",
            column="--scheduler",
            value=address,
        ) from None
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise InputError(
            f"cannot reach the Dask scheduler: {exc}", column="--scheduler", value=address
        ) from None

"""Connecting to a Dask cluster for ``--scheduler ADDRESS`` (the optional ``[dask]`` extra).

``dask.distributed`` is imported only here and only when a scheduler is asked for; without it
the user gets one line saying how to install it. See docs/scale.md for starting a cluster.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

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
    _probe(address, timeout)
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(
            f"cannot reach the Dask scheduler: {exc}", column="--scheduler", value=address
        ) from None


def _probe(address: str, timeout: float) -> None:
    """Fail at once, in one line, when nothing listens at a ``tcp://HOST:PORT`` address:
    the Dask client would retry a refused connection until ``timeout`` runs out. Other
    address forms are left to the client."""
    parts = urlsplit(address)
    if parts.scheme != "tcp":
        return
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # a port that is not a number
        raise InputError(
            f"not a scheduler address (tcp://HOST:PORT): {exc}", column="--scheduler", value=address
        ) from None
    if not host or port is None:
        raise InputError(
            "not a scheduler address; give tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786)",
            column="--scheduler",
            value=address,
        )
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise InputError(
            f"cannot reach the Dask scheduler: {exc}", column="--scheduler", value=address
        ) from None

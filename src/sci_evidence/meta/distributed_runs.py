"""Chunks of a batch computation run on a Dask cluster instead of local threads.

The core never connects anywhere: a caller (the CLI's ``--scheduler ADDRESS``, see
:func:`sci_evidence.cluster.connect`) hands in a ``dask.distributed.Client``. The chunks are
the ones a local run makes, computed by the same functions, so results are identical to the
local run bit for bit (for a seeded sample: same seed, same subsets, same numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def run_on_client(
    client: Any,
    fn: Callable[..., Any],
    job: Any,
    spans: Sequence[tuple[int, int]],
    place: Callable[[Any], int],
    progress: Callable[[int, int], None] | None = None,
    total: int = 0,
) -> None:
    """Compute ``fn(job, a, b)`` for every span on ``client``'s workers; ``place`` each result
    as it arrives (in the calling process) and report ``progress(done, total)``.

    ``job`` is sent to the cluster once (scattered to every worker), not once per chunk. On
    an exception or KeyboardInterrupt the outstanding chunks are cancelled.
    """
    from distributed import as_completed

    job_on_cluster = client.scatter(job, broadcast=True)
    futures = [client.submit(fn, job_on_cluster, a, b, pure=False) for a, b in spans]
    done = 0
    try:
        for fut in as_completed(futures):
            done += place(fut.result())
            fut.release()
            if progress is not None:
                progress(done, total)
    except BaseException:
        client.cancel(futures)
        raise

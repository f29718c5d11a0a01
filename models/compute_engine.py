"""Where a batch run or a training computes: ``local`` (this process) or ``dask`` (a Dask cluster at ``scheduler``,
or a ``LocalCluster`` started here); the choice is checked, and the cluster connected, the same way for both."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from features.errors import LoopbaanError

if TYPE_CHECKING:
    from distributed import Client

LOCAL = "local"
DASK = "dask"
ENGINES = (LOCAL, DASK)

ERR_ENGINE = "unknown engine {engine!r}: choose local or dask"
ERR_SCHEDULER_NEEDS_DASK = "--scheduler needs --engine dask (the local engine computes in this process)"


def check_engine(engine: str, *, scheduler: str | None) -> None:
    if engine not in ENGINES:
        raise LoopbaanError(ERR_ENGINE.format(engine=engine))
    if scheduler and engine != DASK:
        raise LoopbaanError(ERR_SCHEDULER_NEEDS_DASK)


def engine_client(engine: str, *, scheduler: str | None, **options: Any) -> AbstractContextManager[Client | None]:
    """The Dask client of the ``dask`` engine (``options``: those of :func:`models.distributed_training.dask_client`),
    or None for ``local``; enter it before any work, so that a wrong address fails first."""
    if engine != DASK:
        return nullcontext()
    from models.distributed_training import dask_client

    return dask_client(scheduler, **options)

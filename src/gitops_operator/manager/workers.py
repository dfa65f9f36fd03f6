"""What the verbs share: the client, a thread pool to call it concurrently, and the
memory of objects known in sync."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass, field
from typing import TypeVar

from ..kube import KubeClient
from ..live import Live, read_many
from ..objects import ObjectRef
from .in_sync import KnownInSync

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class Workers:
    kube: KubeClient
    concurrency: int = 8
    in_sync: KnownInSync = field(default_factory=KnownInSync)
    _pool: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="apply")

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``fn`` over ``items`` on the pool, results in the order of ``items``; each call
        runs in a copy of the caller's context (its write fence, ``kube.WRITE_FENCE``)."""
        futures = [self._pool.submit(copy_context().run, fn, item) for item in items]
        try:
            return [future.result() for future in futures]
        finally:  # after a failure, as Executor.map does: what has not started never will
            for future in futures:
                future.cancel()

    def read(self, items: Iterable[tuple[ObjectRef, str]]) -> dict[ObjectRef, Live]:
        """The live state of every ``(ref, apiVersion)``: a LIST per large group of one
        kind and namespace, a GET each otherwise."""
        return read_many(self.kube, items, lambda jobs: self.map(lambda job: job(), jobs))

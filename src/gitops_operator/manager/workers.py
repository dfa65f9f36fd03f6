"""What the verbs share: the client, a thread pool to call it concurrently, and the
memory of objects known in sync."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from ..kube import KubeClient
from ..live import Live, read_many
from ..objects import ObjectRef
from .in_sync import KnownInSync

T = TypeVar("T")
R = TypeVar("R")
INLINE_READS = 4
"""Reads at most this many run on the caller's thread, not the pool."""


@dataclass(slots=True)
class Workers:
    kube: KubeClient
    concurrency: int = 8
    in_sync: KnownInSync = field(default_factory=KnownInSync)
    _pool: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="apply")

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``fn`` over ``items`` on the pool, results in the order of ``items``."""
        return list(self._pool.map(fn, items))

    def read(self, items: Iterable[tuple[ObjectRef, str]]) -> dict[ObjectRef, Live]:
        """The live state of every ``(ref, apiVersion)``: a LIST per large group of one
        kind and namespace, a GET each otherwise. A few reads run on the caller's thread:
        handing them to the pool costs more CPU than they wait (the steady passes of many
        small Applications)."""
        return read_many(self.kube, items, self._run_reads)

    def _run_reads(self, jobs: list[Callable[[], R]]) -> list[R]:
        if len(jobs) <= INLINE_READS:
            return [job() for job in jobs]
        return self.map(lambda job: job(), jobs)

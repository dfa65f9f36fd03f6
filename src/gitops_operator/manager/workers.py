"""What the verbs share: the client, a thread pool to call it concurrently, and the
memory of objects known in sync."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass, field
from typing import TypeVar

from ..kube import KubeClient
from ..live import Live, read_many
from ..objects import ObjectRef
from ..shared_lists import SharedLists
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
    shared: SharedLists = field(default_factory=SharedLists)
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
        kind and namespace, a GET each otherwise. A few reads run on the caller's thread:
        handing them to the pool costs more CPU than they wait (the steady passes of many
        small Applications)."""
        return read_many(self.kube, items, self._run_reads)

    def read_recent(
        self, items: Iterable[tuple[ObjectRef, str]], max_age: float
    ) -> dict[ObjectRef, Live]:
        """``read``, taking from a LIST shared with other Applications, no older than
        ``max_age`` seconds, the objects whose resourceVersion is the one last applied or
        verified in sync (``shared_lists``); for steady passes only."""
        wanted = list(items)
        groups: dict[tuple[str, str, str], list[ObjectRef]] = defaultdict(list)
        for ref, version in wanted:
            groups[(version, ref.kind, ref.namespace)].append(ref)
        found: dict[ObjectRef, Live] = {}
        for group, refs in groups.items():
            found.update(self.shared.lookup(self.kube, group, refs, max_age, self.in_sync.trusts))
        rest = [(ref, version) for ref, version in wanted if ref not in found]
        if rest:
            found.update(self.read(rest))
        return found

    def _run_reads(self, jobs: list[Callable[[], R]]) -> list[R]:
        if len(jobs) <= INLINE_READS:
            return [job() for job in jobs]
        return self.map(lambda job: job(), jobs)

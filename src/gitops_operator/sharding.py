"""Which replica reconciles which resource: pure decisions, no API calls.

Three modes (``GITOPS_SHARDING``):

- ``off``: one replica (or one leader) reconciles everything.
- ``hash``: each replica renews a membership Lease of its own; a resource belongs to the
  live member with the highest rendezvous weight for ``kind/namespace/name``. Losing or
  adding a member moves only that member's share.
- ``labels``: each replica reconciles the resources its label selector matches (Flux's
  ``--watch-label-selector`` shape).

Liveness is judged by the local monotonic clock only: a member is expired when its
Lease's ``renewTime`` has not changed for ``lease_duration - 2 * renew_period`` seconds
as this replica saw it (seeing a renewal lags it by up to one renew period, and seeing
the expiry by another, so a dead member's share moves within ``lease_duration`` of its
last renewal). Clock offsets
between replicas do not matter; only clock rates do.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class ShardingMode(StrEnum):
    OFF = "off"
    HASH = "hash"
    LABELS = "labels"


def shard_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def weight(member: str, key: str) -> int:
    """Rendezvous weight of ``member`` for ``key``: 64 bits of SHA-256, so the members'
    shares are even whatever their names."""
    digest = hashlib.sha256(f"{member}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def owner(members: Iterable[str], key: str) -> str | None:
    """The member with the highest weight for ``key`` (ties by name); None without any."""
    best: tuple[int, str] | None = None
    for member in members:
        candidate = (weight(member, key), member)
        if best is None or candidate > best:
            best = candidate
    return best[1] if best else None


# -- membership ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberLease:
    """One membership Lease as listed: whose it is and the renewal it last recorded."""

    identity: str
    renew_time: str


@dataclass(frozen=True, slots=True)
class View:
    """The live members as one replica saw them at ``taken_at`` (its monotonic clock)."""

    members: tuple[str, ...]
    taken_at: float


@dataclass(slots=True)
class MemberTracker:
    """Turns successive listings of the group's Leases into views. A Lease counts as live
    until its ``renewTime`` has stayed the same for ``expire_after`` seconds of the local
    clock (first seen: from then)."""

    expire_after: float
    _seen: dict[str, tuple[str, float]] = field(default_factory=dict)

    def observe(self, leases: Iterable[MemberLease], now: float) -> View:
        listed: dict[str, str] = {lease.identity: lease.renew_time for lease in leases}
        for identity in list(self._seen):
            if identity not in listed:  # deleted: gone at once
                del self._seen[identity]
        for identity, renewed in listed.items():
            previous = self._seen.get(identity)
            if previous is None or previous[0] != renewed:
                self._seen[identity] = (renewed, now)
        live = sorted(
            identity
            for identity, (_, changed) in self._seen.items()
            if now - changed < self.expire_after
        )
        return View(tuple(live), now)

    def expired_for(self, identity: str, now: float) -> float:
        """Seconds ``identity``'s Lease has been expired (0 while it is live or unknown)."""
        seen = self._seen.get(identity)
        if seen is None:
            return 0.0
        return max(0.0, now - seen[1] - self.expire_after)


@dataclass(frozen=True, slots=True)
class Timing:
    """How often a member renews, how long its Lease lasts, and what follows from them."""

    renew_period: float = 2.0
    lease_duration: float = 15.0

    @property
    def expire_after(self) -> float:
        """Seconds without a renewal seen after which the others count a member out."""
        return self.lease_duration - 2 * self.renew_period

    @property
    def max_view_age(self) -> float:
        """A view older than this may miss a member that joined: no writes on it."""
        return 2 * self.renew_period

    @property
    def warm_up(self) -> float:
        """A new member acts only this long after its Lease was created, by when every
        live member has seen it (a view is at most ``max_view_age`` old when it writes)
        and stopped writing what moved to it."""
        return self.max_view_age + self.renew_period

    def check(self) -> None:
        """A member stops writing ``max_view_age`` after its last renewal; the others
        take over ``expire_after`` after they saw that renewal: the first must come
        before the second with a renew period to spare (for a write in flight)."""
        if self.renew_period <= 0 or self.max_view_age + self.renew_period >= self.expire_after:
            raise ValueError(
                f"lease duration {self.lease_duration}s must exceed five renew periods"
                f" ({self.renew_period}s each)"
            )


@dataclass(frozen=True, slots=True)
class Standing:
    """What a replica knows of itself: its identity, when its Lease was created and last
    renewed (monotonic), and its latest view."""

    identity: str
    joined_at: float | None
    renewed_at: float | None
    view: View | None


def acting(standing: Standing, timing: Timing, now: float) -> bool:
    """Whether the replica may write at all: its own Lease renewed within the view age,
    warmed up, and a fresh view that counts it as a member (else it is fenced)."""
    if standing.joined_at is None or standing.renewed_at is None or standing.view is None:
        return False
    return (
        now - standing.joined_at >= timing.warm_up
        and now - standing.renewed_at <= timing.max_view_age
        and now - standing.view.taken_at <= timing.max_view_age
        and standing.identity in standing.view.members
    )


def owns(standing: Standing, timing: Timing, key: str, now: float) -> bool:
    """Whether this replica may write ``key`` now (hash mode)."""
    return (
        acting(standing, timing, now)
        and standing.view is not None
        and owner(standing.view.members, key) == standing.identity
    )


def shares(members: Iterable[str], keys: Iterable[str]) -> dict[str, int]:
    """How many of ``keys`` each member owns."""
    ring = tuple(members)
    counts = dict.fromkeys(ring, 0)
    for key in keys:
        found = owner(ring, key)
        if found is not None:
            counts[found] += 1
    return counts


# -- label selectors -------------------------------------------------------------------------

_SET = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        match self.operator:
            case "exists":
                return value is not None
            case "!":
                return value is None
            case "=" | "in":
                return value in self.values
            case _:  # "!=", "notin": an unlabelled object matches, as Kubernetes has it
                return value not in self.values


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return all(r.matches(labels or {}) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(_show(r) for r in self.requirements)


def _show(r: Requirement) -> str:
    if r.operator == "exists":
        return r.key
    if r.operator == "!":
        return f"!{r.key}"
    if r.operator in ("in", "notin"):
        return f"{r.key} {r.operator} ({','.join(r.values)})"
    return f"{r.key}{r.operator}{r.values[0]}"


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def parse_selector(text: str) -> LabelSelector:
    """Kubernetes' label selector syntax: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``,
    ``k in (a,b)``, ``k notin (a,b)``, comma-separated (all must hold). ``ValueError``
    names the part that is not one of these."""
    requirements = []
    for raw in _split(text):
        part = raw.strip()
        if not part:
            raise ValueError(f"label selector {text!r}: an empty requirement")
        found = _SET.match(part)
        if found:
            values = tuple(v.strip() for v in found.group(3).split(",") if v.strip())
            requirement = Requirement(found.group(1), found.group(2), values)
        elif "!=" in part:
            key, value = part.split("!=", 1)
            requirement = Requirement(key.strip(), "!=", (value.strip(),))
        elif "=" in part:
            key, value = part.replace("==", "=", 1).split("=", 1)
            requirement = Requirement(key.strip(), "=", (value.strip(),))
        elif part.startswith("!"):
            requirement = Requirement(part[1:].strip(), "!")
        else:
            requirement = Requirement(part, "exists")
        if not _NAME.match(requirement.key):
            raise ValueError(f"label selector {text!r}: {part!r} is not a requirement")
        requirements.append(requirement)
    return LabelSelector(tuple(requirements))

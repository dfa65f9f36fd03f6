"""What the pages read, always with the person's client (``Identity.client``): the API
server's answer, filtered by RBAC, is what the page shows. Blocking calls: the server
runs them on worker threads."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml

from .. import inventory
from ..api import (
    API_VERSION,
    APPLICATION_KIND,
    APPLICATION_PLURAL,
    GROUP,
    REPOSITORY_KIND,
    parse_health_check_exprs,
    status_fields,
)
from ..diagram import DiagramObject, render_svg
from ..diff import mask_secret
from ..errors import ApiError, InvalidSpecError, NotFoundError
from ..health import NO_RULES, HealthRules, application_rules, assess, operator_health_checks
from ..kube_identity import may
from ..kube_ui import UiKubeClient
from ..live import read_many
from ..objects import KubeObject, ObjectRef
from .app_page import AppView
from .views import AppRow, object_tree, table_rows, timeline

T = TypeVar("T")
MAX_EVENTS = 50
FORBIDDEN = 403


@dataclass(slots=True)
class Reader:
    """Reads for one request; ``pool`` runs independent reads at once."""

    kube: UiKubeClient
    """The person's client."""
    pool: ThreadPoolExecutor
    health_check_exprs: str = ""
    """The operator-wide health rules (``GITOPS_HEALTH_CHECK_EXPRS``)."""

    def application_rows(
        self, namespace: str, fallback_namespaces: Callable[[], list[str]]
    ) -> tuple[list[AppRow], str]:
        """Every Application the person may list (in ``namespace``, if given), from the
        API server's Table, and its resourceVersion: all namespaces at once when RBAC
        allows it, else namespace by namespace (``fallback_namespaces``), skipping
        refusals (then there is no single version: "")."""
        try:
            table = self.kube.list_table(API_VERSION, APPLICATION_KIND, namespace or None)
            version = str((table.get("metadata") or {}).get("resourceVersion", ""))
            return table_rows(table), version
        except ApiError as exc:
            if exc.code != FORBIDDEN or namespace:
                raise
        found: list[AppRow] = []
        for rows in self._map(self._rows_in, fallback_namespaces()):
            found.extend(rows)
        return found, ""

    def _rows_in(self, namespace: str) -> list[AppRow]:
        try:
            return table_rows(self.kube.list_table(API_VERSION, APPLICATION_KIND, namespace))
        except ApiError as exc:
            if exc.code == FORBIDDEN:
                return []
            raise

    def repositories(self, fallback_namespaces: Callable[[], list[str]]) -> list[KubeObject]:
        try:
            return self.kube.list(API_VERSION, REPOSITORY_KIND)
        except ApiError as exc:
            if exc.code != FORBIDDEN:
                raise
        found: list[KubeObject] = []
        for namespace in fallback_namespaces():
            try:
                found.extend(self.kube.list(API_VERSION, REPOSITORY_KIND, namespace))
            except ApiError as exc:
                if exc.code != FORBIDDEN:
                    raise
        return found

    def application(self, namespace: str, name: str) -> KubeObject:
        """The Application; ``NotFoundError`` when it is absent or the person may not
        read it (a refusal is not told apart from absence)."""
        try:
            app = self.kube.get(API_VERSION, ObjectRef(GROUP, APPLICATION_KIND, namespace, name))
        except ApiError as exc:
            if exc.code != FORBIDDEN:
                raise
            app = None
        if app is None:
            raise NotFoundError(f"Application {namespace}/{name} not found")
        return app

    def application_view(self, namespace: str, name: str) -> AppView:
        app = self.application(namespace, name)
        status = app.get("status") or {}
        repo_future = self.pool.submit(self._repository_of, app)
        events_future = self.pool.submit(self._events, namespace, name)
        patch_future = self.pool.submit(
            may, self.kube, "patch", GROUP, APPLICATION_PLURAL, namespace, name
        )
        owned = inventory.from_status(status)
        live = read_many(self.kube, owned.items(), lambda jobs: self._map(lambda j: j(), jobs))
        rules = _health_rules(app, self.health_check_exprs)
        assessed = []
        for ref in sorted(owned):
            current = live.get(ref)
            health = (
                "Unknown"
                if isinstance(current, ApiError | NotFoundError)
                else (assess(current, rules).status.value)
            )
            assessed.append((ref, owned[ref], health))
        drift = list(status.get(status_fields.DRIFT) or [])
        drifted = {str(d.get("object")) for d in drift if isinstance(d, dict)}
        diagram_objects = [DiagramObject(r, h, str(r) in drifted) for r, _, h in assessed]
        repo = repo_future.result()
        artifact = ((repo or {}).get("status") or {}).get(status_fields.ARTIFACT) or {}
        return AppView(
            app=app,
            tree=object_tree(assessed, drift),
            diagram_svg=render_svg(app, repo, diagram_objects),
            timeline=timeline(list(status.get(status_fields.HISTORY) or []), artifact),
            events=events_future.result(),
            may_patch=patch_future.result(),
        )

    def _repository_of(self, app: KubeObject) -> KubeObject | None:
        source = (app.get("spec") or {}).get("sourceRef") or {}
        namespace = str(source.get("namespace") or app["metadata"]["namespace"])
        ref = ObjectRef(GROUP, REPOSITORY_KIND, namespace, str(source.get("name", "")))
        try:
            return self.kube.get(API_VERSION, ref) if ref.name else None
        except ApiError:
            return None

    def _events(self, namespace: str, name: str) -> list[KubeObject] | None:
        try:
            events = self.kube.list("v1", "Event", namespace)
        except ApiError as exc:
            if exc.code == FORBIDDEN:
                return None
            raise
        mine = [
            e
            for e in events
            if (e.get("involvedObject") or {}).get("name") == name
            and (e.get("involvedObject") or {}).get("kind") == APPLICATION_KIND
        ]
        mine.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
        return list(reversed(mine))[:MAX_EVENTS]

    def object_yaml(self, app: KubeObject, api_version: str, ref: ObjectRef) -> str | None:
        """The live object as YAML, Secret values masked; None when it is not one the
        Application owns, is gone, or the person may not read it."""
        owned = inventory.from_status(app.get("status") or {})
        if ref not in owned:
            return None
        try:
            live = self.kube.get(api_version, ref)
        except ApiError:
            return None
        if live is None:
            return None
        meta = dict(live.get("metadata") or {})
        meta.pop("managedFields", None)
        if live.get("kind") == "Secret":  # the annotation may hold the values in clear
            annotations = dict(meta.get("annotations") or {})
            annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
            meta["annotations"] = annotations
        shown = mask_secret({**live, "metadata": meta})
        return yaml.safe_dump(shown, sort_keys=False, default_flow_style=False)

    def _map(self, fn: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
        return list(self.pool.map(fn, items))


def _health_rules(app: KubeObject, operator_exprs: str) -> HealthRules:
    """The Application's health rules in CEL over the operator-wide ones (the same
    ``GITOPS_HEALTH_CHECK_EXPRS`` setting), as the operator assesses; none if invalid."""
    try:
        own = (app.get("spec") or {}).get("healthCheckExprs")
        return application_rules(
            operator_health_checks(operator_exprs),
            parse_health_check_exprs(own, "spec.healthCheckExprs"),
        )
    except InvalidSpecError:
        return NO_RULES

"""Offline JSON schemas for kubeconform, from a real API server and from deploy/crds.

kubeconform downloads its schemas from GitHub by default; this machine (and CI) cannot.
So the schemas of the built-in kinds are made from the OpenAPI v2 document of the local
control plane (the pinned Kubernetes of hack/versions.env): one standalone file per
group/version/kind, every ``$ref`` inlined (a recursive type, such as a CRD's
JSONSchemaProps, becomes a local ``#/definitions/...`` entry of the same file), and
``additionalProperties: false`` wherever the schema lists properties, as kubeconform's
``-strict`` expects. They are cached in ``~/.cache/gitops-operator/schemas/<version>``:
a second run starts nothing and prints the directory at once.

    python hack/kube-schemas.py builtin [--kubeconfig FILE]   # prints the cache directory
    python hack/kube-schemas.py crds --out DIR                # deploy/crds + monitoring kinds

``builtin`` reuses the cluster of ``--kubeconfig`` (or ``$KUBECONFIG``) when the cache is
missing, else starts a control plane with hack/localcluster.py and stops it afterwards.
``crds`` converts deploy/crds the same way and adds minimal strict schemas for the two
prometheus-operator kinds the chart can render (ServiceMonitor, PrometheusRule). Files
are named like kubeconform's ``{{ .ResourceKind }}{{ .KindSuffix }}.json`` template.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

HACK = Path(__file__).resolve().parent
ROOT = HACK.parent
FORMAT = "3"
"""Bump when the conversion changes: a cache written by another format is rebuilt."""
STAMP = ".complete"
META = "io.k8s.apimachinery.pkg.apis.meta."

Schema = dict[str, Any]

# Types whose OpenAPI v2 text understates what the API server accepts.
_SPECIAL: dict[str, Schema] = {
    # "1", 1, "500m" and 0.5 are all quantities; the API server parses numbers too.
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": ["string", "number", "null"]},
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": ["string", "integer", "null"]},
}


def versions() -> dict[str, str]:
    pairs = {}
    for line in (HACK / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs


def cache_root() -> Path:
    base = os.environ.get("GITOPS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"), "gitops-operator"
    )
    return Path(base) / "schemas"


def file_name(kind: str, api_version: str) -> str:
    """kubeconform's ``{{ .ResourceKind }}{{ .KindSuffix }}.json`` for one GVK."""
    group_parts = api_version.split("/")
    suffix = "-" + group_parts[0].split(".")[0].lower()
    if len(group_parts) > 1:
        suffix += "-" + group_parts[1].lower()
    return f"{kind.lower()}{suffix}.json"


# -- conversion -------------------------------------------------------------------------


def _nullable(schema: Schema) -> Schema:
    """Allow null wherever a type is given: the API server treats null as unset."""
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        schema["type"] = [*kind, "null"]
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema


class Converter:
    """OpenAPI (v2 definitions, or a CRD's v3 schema) to draft-04 JSON schema, strict."""

    def __init__(self, definitions: dict[str, Schema]) -> None:
        self.definitions = definitions
        self.recursive = self._cycles()

    def _refs(self, node: Any) -> set[str]:
        found: set[str] = set()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                found.add(ref.removeprefix("#/definitions/"))
            for value in node.values():
                found |= self._refs(value)
        elif isinstance(node, list):
            for value in node:
                found |= self._refs(value)
        return found

    def _cycles(self) -> set[str]:
        """Definitions that can reach themselves: these cannot be inlined."""
        graph = {name: self._refs(body) for name, body in self.definitions.items()}
        recursive: set[str] = set()
        for start in graph:
            seen: set[str] = set()
            todo = list(graph[start])
            while todo:
                name = todo.pop()
                if name == start:
                    recursive.add(start)
                    break
                if name in seen or name not in graph:
                    continue
                seen.add(name)
                todo.extend(graph[name])
        return recursive

    def standalone(self, root: Schema) -> Schema:
        """``root`` with every reference resolved inside the one document."""
        local: dict[str, Schema] = {}
        pending: list[str] = []

        def walk(node: Any) -> Any:
            if isinstance(node, list):
                return [walk(item) for item in node]
            if not isinstance(node, dict):
                return node
            if "$ref" in node:
                name = str(node["$ref"]).removeprefix("#/definitions/")
                if name in _SPECIAL:
                    return dict(_SPECIAL[name])
                if name in self.recursive:
                    if name not in local and name not in pending:
                        pending.append(name)
                    return {"$ref": f"#/definitions/{name}"}
                return walk(self.definitions[name])
            return self._node(node, walk)

        result: Schema = walk(root)
        while pending:
            name = pending.pop()
            local[name] = {}
            local[name] = walk(self.definitions[name])
        if local:
            result["definitions"] = local
        return result

    @staticmethod
    def _node(node: Schema, walk: Any) -> Schema:
        out: Schema = {}
        preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
        for key, value in node.items():
            if key in {"properties", "patternProperties", "definitions"}:
                out[key] = {name: walk(sub) for name, sub in value.items()}
            elif key in {"items", "additionalProperties", "not"} and isinstance(value, dict):
                out[key] = walk(value)
            elif key in {"allOf", "anyOf", "oneOf"} or (key == "items" and isinstance(value, list)):
                out[key] = [walk(sub) for sub in value]
            elif key in {"description", "format", "default", "example", "nullable"}:
                continue  # annotations, or formats (int32, byte...) draft-04 does not know
            elif key.startswith("x-kubernetes-") or key == "$schema":
                continue
            elif key == "required" and not value:
                continue  # draft-04 forbids an empty required list
            else:
                out[key] = value
        if node.get("x-kubernetes-int-or-string") or node.get("format") == "int-or-string":
            out["type"] = ["integer", "string"]
        if "properties" in out and "additionalProperties" not in out and not preserve:
            out["additionalProperties"] = False
        return _nullable(out)


def builtin_schemas(openapi: Schema) -> dict[str, Schema]:
    """File name -> standalone strict schema, for every built-in GVK of an OpenAPI v2 doc."""
    definitions: dict[str, Schema] = openapi["definitions"]
    converter = Converter(definitions)
    files: dict[str, Schema] = {}
    owners: dict[str, str] = {}
    for name, body in sorted(definitions.items()):
        # CRDs installed in the cluster publish their schemas too: keep the built-ins only,
        # and of those the resources, not meta/v1's request and response messages
        # (DeleteOptions, WatchEvent, Status... claim a GVK in every group).
        if not name.startswith("io.k8s.") or name.startswith(META):
            continue
        if "kind" not in (body.get("properties") or {}):
            continue
        for gvk in body.get("x-kubernetes-group-version-kind") or []:
            group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
            api_version = f"{group}/{version}" if group else version
            target = file_name(kind, api_version)
            if target in files:
                if owners[target] != name:
                    raise SystemExit(f"{target}: both {owners[target]} and {name}")
                continue
            files[target] = converter.standalone(body)
            owners[target] = name
    return files


def crd_schemas(paths: list[Path], object_meta: Schema | None) -> dict[str, Schema]:
    """File name -> strict schema for every served version of the CRDs in ``paths``."""
    files: dict[str, Schema] = {}
    for path in paths:
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                api_version = f"{spec['group']}/{version['name']}"
                body = json.loads(json.dumps(version["schema"]["openAPIV3Schema"]))
                properties = body.setdefault("properties", {})
                properties["apiVersion"] = {"type": "string", "enum": [api_version]}
                properties["kind"] = {"type": "string", "enum": [spec["names"]["kind"]]}
                schema = Converter({}).standalone(body)
                if object_meta is not None:
                    # A CRD says only "metadata: object"; the API server checks ObjectMeta.
                    schema["properties"]["metadata"] = object_meta
                files[file_name(spec["names"]["kind"], api_version)] = schema
    return files


def _strict(schema: Schema) -> Schema:
    return Converter({}).standalone(schema)


_STR: Schema = {"type": "string"}
_LABELS: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
_SELECTOR: Schema = {
    "type": "object",
    "properties": {
        "matchLabels": _LABELS,
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "operator"],
                "properties": {
                    "key": _STR,
                    "operator": {
                        "type": "string",
                        "enum": ["In", "NotIn", "Exists", "DoesNotExist"],
                    },
                    "values": {"type": "array", "items": _STR},
                },
            },
        },
    },
}
_DURATION: Schema = {
    "type": "string",
    "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?"
    "(([0-9]+)s)?(([0-9]+)ms)?)$",
}
_RELABELINGS: Schema = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "action": _STR,
            "modulus": {"type": "integer"},
            "regex": _STR,
            "replacement": _STR,
            "separator": _STR,
            "sourceLabels": {"type": "array", "items": _STR},
            "targetLabel": _STR,
        },
    },
}


def _custom(api_version: str, kind: str, spec: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"type": "string", "enum": [api_version]},
            "kind": {"type": "string", "enum": [kind]},
            "metadata": {"type": "object"},
            "spec": spec,
        },
    }


def monitoring_schemas(object_meta: Schema | None) -> dict[str, Schema]:
    """Minimal strict schemas of ServiceMonitor and PrometheusRule (monitoring.coreos.com/v1).

    A subset of prometheus-operator's CRDs: the fields this chart can render plus the
    common ones. A field outside it fails chart-check: add it here if the chart needs it.
    """
    service_monitor = _custom(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        {
            "type": "object",
            "required": ["selector", "endpoints"],
            "properties": {
                "jobLabel": _STR,
                "targetLabels": {"type": "array", "items": _STR},
                "podTargetLabels": {"type": "array", "items": _STR},
                "sampleLimit": {"type": "integer", "minimum": 0},
                "selector": _SELECTOR,
                "namespaceSelector": {
                    "type": "object",
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": _STR},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "port": _STR,
                            "targetPort": {"type": ["string", "integer"]},
                            "path": _STR,
                            "scheme": {"type": "string", "enum": ["http", "https"]},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                            "honorLabels": {"type": "boolean"},
                            "honorTimestamps": {"type": "boolean"},
                            "relabelings": _RELABELINGS,
                            "metricRelabelings": _RELABELINGS,
                        },
                    },
                },
            },
        },
    )
    rule = {
        "type": "object",
        "required": ["expr"],
        "properties": {
            "alert": _STR,
            "record": _STR,
            "expr": {"type": ["string", "integer"]},
            "for": _DURATION,
            "keep_firing_for": _DURATION,
            "labels": _LABELS,
            "annotations": _LABELS,
        },
    }
    prometheus_rule = _custom(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        {
            "type": "object",
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": _DURATION,
                            "limit": {"type": "integer"},
                            "partial_response_strategy": _STR,
                            "rules": {"type": "array", "items": rule},
                        },
                    },
                },
            },
        },
    )
    files = {}
    for schema in (service_monitor, prometheus_rule):
        strict = _strict(schema)
        if object_meta is not None:
            strict["properties"]["metadata"] = object_meta
        kind = schema["properties"]["kind"]["enum"][0]
        files[file_name(kind, "monitoring.coreos.com/v1")] = strict
    return files


# -- I/O ----------------------------------------------------------------------------------


def fetch_openapi(kubeconfig: str) -> tuple[str, Schema]:
    """(server gitVersion, /openapi/v2) of the cluster of ``kubeconfig``."""
    import ssl
    import urllib.request

    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    context = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    if not cfg.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cfg.cert_file:
        context.load_cert_chain(cfg.cert_file, cfg.key_file)
    headers = {"Accept": "application/json"}
    if cfg.api_key.get("authorization"):
        headers["Authorization"] = cfg.api_key["authorization"]

    def get(path: str) -> Any:
        request = urllib.request.Request(cfg.host + path, headers=headers)
        with urllib.request.urlopen(request, context=context, timeout=60) as response:
            return json.load(response)

    return str(get("/version")["gitVersion"]), get("/openapi/v2")


def write_all(directory: Path, files: dict[str, Schema]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, schema in files.items():
        (directory / name).write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True))


def is_complete(directory: Path) -> bool:
    stamp = directory / STAMP
    return stamp.is_file() and stamp.read_text().strip() == FORMAT


def build_builtin(kubeconfig: str | None) -> Path:
    """The cache directory of the pinned Kubernetes version, made on first use."""
    pinned = cache_root() / versions()["KUBERNETES_VERSION"]
    if is_complete(pinned):
        return pinned
    if kubeconfig:
        version, openapi = fetch_openapi(kubeconfig)
    else:
        from localcluster import LocalCluster

        print("starting a control plane to read its OpenAPI document", file=sys.stderr)
        with LocalCluster(name=f"schemas-{os.getpid()}", nodes=0) as cluster:
            version, openapi = fetch_openapi(str(cluster.kubeconfig))
    target = cache_root() / version
    if is_complete(target):
        return target
    # Write beside the target and rename, so a crash never leaves half a cache behind.
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
    try:
        files = builtin_schemas(openapi)
        write_all(staging, files)
        (staging / STAMP).write_text(FORMAT + "\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"wrote {len(files)} schemas of Kubernetes {version}", file=sys.stderr)
    return target


def object_meta_from(builtin: Path | None) -> Schema | None:
    """ObjectMeta as the built-in schemas check it (taken from the ConfigMap schema)."""
    if builtin is None or not (builtin / "configmap-v1.json").is_file():
        return None
    schema = json.loads((builtin / "configmap-v1.json").read_text())
    return dict(schema["properties"]["metadata"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    builtin = sub.add_parser("builtin", help="print the built-in schema cache, making it")
    builtin.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG") or None)
    crds = sub.add_parser("crds", help="write deploy/crds and monitoring schemas to --out")
    crds.add_argument("--out", type=Path, required=True)
    crds.add_argument("--crds", type=Path, default=ROOT / "deploy" / "crds")
    crds.add_argument("--builtin", type=Path, help="take ObjectMeta from this cache")
    args = parser.parse_args()
    if args.command == "builtin":
        print(build_builtin(args.kubeconfig))
        return
    meta = object_meta_from(args.builtin)
    files = crd_schemas(sorted(args.crds.glob("*.yaml")), meta)
    files.update(monitoring_schemas(meta))
    write_all(args.out, files)
    print(args.out)


if __name__ == "__main__":
    main()

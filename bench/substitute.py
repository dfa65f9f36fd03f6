"""The cost of post-build substitution (spec.postBuild) on a 1000-object render.

Renders nothing and needs no cluster: it times ``substitute_manifests`` over 1000 parsed
objects (half ConfigMaps, half Deployments, each with a few variables: an unquoted one
read again as YAML, a quoted one, a default, an escape), and over the same objects
without variables (the check that skips them), next to the YAML parse of the render for
scale (and with the stock safe loader, which does not mark unquoted ``${`` strings).
Prints the median of ``--runs`` runs of each, in milliseconds.

    .venv/bin/python bench/substitute.py [--objects 1000] [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import time

import yaml

from gitops_operator.objects import load_manifests
from gitops_operator.substitute import substitute_manifests

CONFIG_MAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-{i}-${{ENV}}
  labels:
    app: app-{i}
    tier: ${{TIER:=web}}
data:
  region: ${{REGION}}
  color: "${{COLOR}}"
  literal: $${{ENV}}
  static: value-{i}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
spec:
  replicas: ${{REPLICAS}}
  selector:
    matchLabels: {{app: app-{i}}}
  template:
    metadata:
      labels: {{app: app-{i}}}
    spec:
      containers:
        - name: main
          image: registry.example/app:${{TAG:=1.0.0}}
          env:
            - name: PORT
              value: "${{PORT:=8080}}"
            - name: REGION
              value: ${{REGION}}
"""
VARIABLES = {"ENV": "prod", "REGION": "eu-west-1", "COLOR": "blue", "REPLICAS": "3"}


def render_text(objects: int, *, with_variables: bool) -> str:
    docs = [(CONFIG_MAP if i % 2 else DEPLOYMENT).format(i=i) for i in range(objects)]
    text = "---\n".join(docs)
    if not with_variables:
        text = text.replace("$${", "").replace("${", "").replace(":=", "-")
    return text


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    text = render_text(args.objects, with_variables=True)
    plain = render_text(args.objects, with_variables=False)
    manifests = load_manifests(text, "bench")
    without = load_manifests(plain, "bench")
    assert substitute_manifests(manifests, VARIABLES, strict=True)[0].obj["spec"]["replicas"] == 3

    parse = median_ms(lambda: load_manifests(text, "bench"), args.runs)
    stock = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    stock_parse = median_ms(lambda: list(yaml.load_all(text, Loader=stock)), args.runs)
    substitute = median_ms(
        lambda: substitute_manifests(manifests, VARIABLES, strict=False), args.runs
    )
    skip = median_ms(lambda: substitute_manifests(without, VARIABLES, strict=False), args.runs)
    print(f"objects: {args.objects}, runs: {args.runs} (median ms)")
    print(f"parse the render (YAML, for scale):        {parse:8.1f}")
    print(f"  the same with the stock safe loader:     {stock_parse:8.1f}")
    print(f"substitute, every object with variables:   {substitute:8.1f}")
    print(f"substitute, no object with variables:      {skip:8.1f}")


if __name__ == "__main__":
    main()

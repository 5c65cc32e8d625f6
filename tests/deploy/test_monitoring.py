"""The monitoring kit matches the code: every series a dashboard panel or an alert queries is
one the services expose, with the labels they set, and every alert has its runbook section.

A renamed metric or label would otherwise leave an empty panel or an alert that can never
fire, which nobody notices until the incident it was written for.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "k8s" / "monitoring"
RUNBOOK = ROOT / "docs" / "operations.md"
SERVICES = ["leads", "compliance", "dialer", "agent", "reporting"]

_SERIES = re.compile(r"\b(kaden_[a-z0-9_]+)\b")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\b(kaden_[a-z0-9_]+)\{([^}]*)\}")
_TEMPLATE_LABELS = re.compile(r"\{\{\s*\$?(?:labels\.)?([a-z_]+)\s*\}\}")


@functools.cache
def exposed_series() -> dict[str, frozenset[str]]:
    """Series name -> its label names, for every Kaden metric the services register.

    Counters are exposed as ``<name>_total``; histograms as ``_bucket`` (with ``le``),
    ``_sum`` and ``_count``; gauges under their own name. Reads prometheus_client's
    registry internals (``_names_to_collectors``, ``_labelnames``): its public API does not
    list the label names of a metric that has no sample yet. Computed once per session.
    """
    for service in SERVICES:
        importlib.import_module(f"{service}.main")
    series: dict[str, frozenset[str]] = {}
    for name, collector in REGISTRY._names_to_collectors.items():
        if not name.startswith("kaden_"):
            continue
        kind, labels = collector._type, frozenset(collector._labelnames)
        if (kind == "counter" and name.endswith("_total")) or (
                kind == "gauge" and name == collector._name):
            series[name] = labels
        elif kind == "histogram" and name.endswith(("_bucket", "_sum", "_count")):
            series[name] = labels | {"le"} if name.endswith("_bucket") else labels
    return series


def dashboards() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    files = [f for gen in kustomization["configMapGenerator"] for f in gen["files"]]
    assert files, "no dashboard in the kustomization"
    return [json.loads((MONITORING / f).read_text()) for f in files]


def alert_rules() -> list[dict[str, Any]]:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def queries() -> list[tuple[str, str, str]]:
    """(where, PromQL expression, legend or annotation text) of every panel and alert."""
    found = []
    for dashboard in dashboards():
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                found.append((f"panel {panel['title']!r}", target["expr"],
                              target.get("legendFormat", "")))
    for rule in alert_rules():
        text = " ".join(str(v) for v in rule.get("annotations", {}).values())
        found.append((f"alert {rule['alert']}", rule["expr"], text))
    return found


def test_kustomization_lists_every_monitoring_file() -> None:
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"]) | {
        f for gen in kustomization["configMapGenerator"] for f in gen["files"]}
    present = {str(p.relative_to(MONITORING)) for p in MONITORING.rglob("*")
               if p.is_file() and p.name != "kustomization.yaml"}
    assert listed == present
    [generator] = kustomization["configMapGenerator"]
    assert generator["options"]["labels"] == {"grafana_dashboard": "1"}


@pytest.mark.parametrize(("where", "expr", "text"), queries(), ids=lambda v: str(v)[:60])
def test_every_query_uses_exposed_series_and_their_labels(where: str, expr: str,
                                                          text: str) -> None:
    series = exposed_series()
    names = set(_SERIES.findall(expr))
    assert names, f"{where}: queries no Kaden series"
    unknown = names - set(series)
    assert not unknown, f"{where}: no service exposes {sorted(unknown)}"
    available = frozenset().union(*(series[n] for n in names))
    for name, matchers in _MATCHERS.findall(expr):
        used = {m.split("=")[0].strip(" !~") for m in matchers.split(",") if m.strip()}
        assert used <= series[name], f"{where}: {name} has no label {sorted(used - series[name])}"
    grouped = {label.strip() for group in _GROUPING.findall(expr)
               for label in group.split(",") if label.strip()}
    assert grouped <= available, f"{where}: groups by unknown labels {sorted(grouped - available)}"
    # what a legend or an alert's text prints must survive the aggregation
    shown = set(_TEMPLATE_LABELS.findall(text)) - {"value"}
    aggregated = re.search(r"\b(?:sum|max|min|avg|count)\s*\(", expr)
    kept = grouped if grouped or aggregated else available
    assert shown <= kept, f"{where}: shows {sorted(shown - kept)}, which the query drops"


def test_campaign_variable_reads_an_exposed_label() -> None:
    series = exposed_series()
    for dashboard in dashboards():
        for variable in dashboard["templating"]["list"]:
            if variable["type"] != "query":
                continue
            name, label = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)",
                                       variable["definition"]).groups()
            assert label in series[name]


def test_every_alert_has_a_runbook_section() -> None:
    headings = {re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
                for line in RUNBOOK.read_text().splitlines() if line.startswith("### ")}
    for rule in alert_rules():
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert anchor == rule["alert"].lower(), rule["alert"]
        assert anchor in headings, f"docs/operations.md has no section '### {rule['alert']}'"
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}

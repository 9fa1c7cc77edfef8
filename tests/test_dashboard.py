"""dashboards/media-repo.json: a well-formed Grafana dashboard that only charts metrics MMR v1.3.x exports.

The metric names below were read from matrix-media-repo's own source (t2bot/matrix-media-repo,
``metrics/metrics.go``, where every collector is declared with ``prometheus.New*`` and registered on the default
registry). The default registry also carries client_golang's Go and process collectors, hence the ``go_*`` and
``process_*`` names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DASHBOARD_PATH = Path(__file__).resolve().parent.parent / "dashboards" / "media-repo.json"

# Metrics MMR exports: name -> Prometheus type, from metrics/metrics.go.
MMR_METRICS: dict[str, str] = {
    "media_http_requests_total": "counter",  # labels: host, action, method
    "media_invalid_http_requests_total": "counter",  # labels: action, method
    "media_http_responses_total": "counter",  # labels: host, action, method, statusCode
    "media_http_response_time_seconds": "histogram",  # labels: host, action, method (added in v1.3.0)
    "media_cache_hits_total": "counter",  # label: cache
    "media_cache_misses_total": "counter",  # label: cache
    "media_thumbnails_generated_total": "counter",  # labels: width, height, method, animated, origin
    "media_downloaded_total": "counter",  # label: origin
    "media_url_previews_generated_total": "counter",  # label: type
    "media_s3_operations_total": "counter",  # label: operation
    "media_age_accessed_media_seconds": "histogram",  # no labels (added in v1.3.0)
}

# Standard names from client_golang's default Go and process collectors.
STANDARD_METRICS: frozenset[str] = frozenset(
    {
        "go_goroutines",
        "go_threads",
        "go_gc_duration_seconds",
        "go_memstats_alloc_bytes",
        "go_memstats_heap_alloc_bytes",
        "go_memstats_heap_inuse_bytes",
        "go_memstats_heap_idle_bytes",
        "go_memstats_sys_bytes",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    }
)


def exported_series_names() -> frozenset[str]:
    """Every series name a scrape of MMR can contain: histograms expand to _bucket/_sum/_count."""
    names = set(STANDARD_METRICS)
    for name, kind in MMR_METRICS.items():
        if kind == "histogram":
            names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
        else:
            names.add(name)
    return frozenset(names)


EXPORTED = exported_series_names()

# PromQL words that look like identifiers but are not metric names.
PROMQL_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})
GROUPING_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<matchers>\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})
  | (?P<range>\[[^\]]*\])
  | (?P<duration>(?:[0-9]+(?:ms|[smhdwy]))+\b)
  | (?P<number>(?:0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?))
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>(),=])
    """,
    re.VERBOSE,
)
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def tokenize(expr: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise ValueError(f"cannot tokenize PromQL at {pos}: {expr[pos : pos + 30]!r}")
        if m.lastgroup != "space":
            tokens.append((m.lastgroup, m.group()))
        pos = m.end()
    return tokens


def selectors(expr: str) -> list[tuple[str, dict[str, tuple[str, str]]]]:
    """(metric name, {label: (op, value)}) for every vector selector in a PromQL expression."""
    tokens = tokenize(expr)
    found: list[tuple[str, dict[str, tuple[str, str]]]] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
        if kind == "ident" and text in GROUPING_KEYWORDS:
            # skip the label list: by (a, b)
            assert following == ("op", "("), f"{text} without a label list in {expr!r}"
            close = next(j for j in range(i + 1, len(tokens)) if tokens[j] == ("op", ")"))
            i = close + 1
            continue
        is_call = following == ("op", "(")  # function or aggregation: rate(...), sum(...)
        is_aggregation = following[0] == "ident" and following[1] in {"by", "without"}  # sum by (le) (...)
        if kind == "ident" and not is_call and not is_aggregation and text.lower() not in PROMQL_KEYWORDS:
            labels: dict[str, tuple[str, str]] = {}
            if following[0] == "matchers":
                labels = {name: (op, value) for name, op, value in _MATCHER.findall(following[1])}
            found.append((text, labels))
        i += 1
    return found


def metric_names(expr: str) -> set[str]:
    return {name for name, _ in selectors(expr)}


def parens_balanced(expr: str) -> bool:
    depth = 0
    for kind, text in tokenize(expr):
        if kind == "op" and text == "(":
            depth += 1
        elif kind == "op" and text == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD_PATH.read_text(encoding="utf-8"))


def all_targets(dashboard: dict) -> list[tuple[dict, dict]]:
    return [(panel, target) for panel in dashboard["panels"] for target in panel["targets"]]


# The checker itself, so a broken checker cannot pass a broken dashboard.


def test_checker_finds_metric_names_and_skips_functions_labels_and_keywords() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, action) (rate(media_http_response_time_seconds_bucket{job=~"$job",'
        ' action="download"}[$__rate_interval]))) or vector(0) / on (instance) process_max_fds offset 5m'
    )
    assert metric_names(expr) == {"media_http_response_time_seconds_bucket", "process_max_fds"}


def test_checker_reads_label_matchers() -> None:
    [(name, labels)] = selectors('rate(media_downloaded_total{job=~"$job", origin!="a,b}"}[5m])')
    assert name == "media_downloaded_total"
    assert labels == {"job": ("=~", "$job"), "origin": ("!=", "a,b}")}


def test_checker_rejects_unknown_and_misspelt_metrics() -> None:
    for expr in ("rate(media_upload_bytes_total[5m])", "media_http_request_total", "go_goroutine"):
        assert not metric_names(expr) <= EXPORTED, expr


def test_checker_catches_unbalanced_parentheses() -> None:
    assert parens_balanced("sum(rate(x[5m])) / (sum(y))")
    assert not parens_balanced("(sum(x) or vector(0)) / (sum(y)")
    assert not parens_balanced("sum(x)) or (y")


# The dashboard.


def test_is_a_grafana_dashboard(dashboard: dict) -> None:
    assert dashboard["title"] == "matrix-media-repo"
    assert isinstance(dashboard["uid"], str)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dashboard["uid"])
    assert isinstance(dashboard["schemaVersion"], int)
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["tags"]
    assert all(isinstance(tag, str) and tag for tag in dashboard["tags"])
    assert isinstance(dashboard["panels"], list)
    assert dashboard["panels"]
    assert dashboard.get("id") is None, "an importable dashboard carries no database id"


def test_templating_has_datasource_job_and_instance(dashboard: dict) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert {"datasource", "job", "instance"} <= variables.keys()
    datasource = variables["datasource"]
    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"
    for name in ("job", "instance"):
        variable = variables[name]
        assert variable["type"] == "query"
        assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        assert match, query
        assert match.group(2) == name
        assert metric_names(match.group(1)) <= EXPORTED
    instance_query = variables["instance"]["query"]["query"]
    assert "$job" in instance_query, "the instance list should follow the chosen job"


def test_every_panel_is_complete(dashboard: dict) -> None:
    for panel in dashboard["panels"]:
        assert panel["type"] in {"timeseries", "stat"}, panel.get("title")
        assert isinstance(panel["title"], str)
        assert panel["title"].strip()
        assert set(panel["gridPos"]) >= {"x", "y", "w", "h"}, panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_every_target_queries_through_the_datasource_variable(dashboard: dict) -> None:
    for panel, target in all_targets(dashboard):
        assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert isinstance(target["expr"], str)
        assert target["expr"].strip(), panel["title"]


def test_every_expression_parses(dashboard: dict) -> None:
    for panel, target in all_targets(dashboard):
        assert parens_balanced(target["expr"]), f"{panel['title']}: {target['expr']}"
        assert metric_names(target["expr"]), f"{panel['title']} queries no metric"


def test_expressions_only_use_metrics_mmr_exports(dashboard: dict) -> None:
    unknown = {
        (panel["title"], name)
        for panel, target in all_targets(dashboard)
        for name in metric_names(target["expr"])
        if name not in EXPORTED
    }
    assert not unknown


def test_every_selector_is_scoped_to_job_and_instance(dashboard: dict) -> None:
    for panel, target in all_targets(dashboard):
        for name, labels in selectors(target["expr"]):
            assert labels.get("job") == ("=~", "$job"), f"{panel['title']}: {name}"
            assert labels.get("instance") == ("=~", "$instance"), f"{panel['title']}: {name}"


def test_histograms_are_read_through_their_buckets(dashboard: dict) -> None:
    for panel, target in all_targets(dashboard):
        expr = target["expr"]
        for name in metric_names(expr):
            if name.endswith("_bucket"):
                assert "histogram_quantile(" in expr, panel["title"]
                assert re.search(r"by \([^)]*\ble\b", expr), f"{panel['title']}: aggregate keeping 'le'"


def test_counters_are_never_charted_raw(dashboard: dict) -> None:
    for panel, target in all_targets(dashboard):
        expr = target["expr"]
        for name in metric_names(expr):
            if name.endswith(("_total", "_bucket")):
                assert re.search(rf"\b(rate|irate|increase)\({re.escape(name)}\{{", expr), f"{panel['title']}: {name}"


def test_every_mmr_metric_is_charted(dashboard: dict) -> None:
    used = set().union(*(metric_names(t["expr"]) for _, t in all_targets(dashboard)))
    for name, kind in MMR_METRICS.items():
        series = f"{name}_bucket" if kind == "histogram" else name
        assert series in used, name
    assert {"go_goroutines", "process_resident_memory_bytes"} <= used


def test_panel_ids_are_unique(dashboard: dict) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids))


def test_panels_fit_the_grid_and_do_not_overlap(dashboard: dict) -> None:
    boxes = []
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert all(isinstance(g[k], int) for k in ("x", "y", "w", "h")), panel["title"]
        assert g["x"] >= 0, panel["title"]
        assert g["y"] >= 0, panel["title"]
        assert g["w"] > 0, panel["title"]
        assert g["h"] > 0, panel["title"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        boxes.append((panel["title"], g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"]))
    for i, (title_a, ax0, ay0, ax1, ay1) in enumerate(boxes):
        for title_b, bx0, by0, bx1, by1 in boxes[i + 1 :]:
            overlap = ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1
            assert not overlap, f"{title_a!r} overlaps {title_b!r}"


def test_the_metric_list_is_mmrs_own() -> None:
    """MMR_METRICS above is exactly the list read off MMR's metrics.go (tests/upstream/mmr/metrics.tsv)."""
    tsv = Path(__file__).resolve().parent / "upstream" / "mmr" / "metrics.tsv"
    names = {line.split("\t")[0] for line in tsv.read_text().splitlines() if line and not line.startswith("#")}
    assert set(MMR_METRICS) == names

"""Fleet mode's source: a few PromQL instant queries for every kubelet, one `Window` per node.

`pleg-doctor fleet --prometheus URL` asks a Prometheus-compatible HTTP API (Prometheus, Thanos
Query, Mimir under its `/prometheus` prefix, VictoriaMetrics; the URL's path prefix is kept and
`/api/v1/query` appended) for what `diagnose` reads from one scrape pair, for the whole fleet at
once (ARCHITECTURE.md "Fleet mode": no per-node round trips). Eight API calls whatever the fleet
size: the server's clock (`time()`, skipped with `--at`), then seven instant vector queries, four
at a time:

* `relist_buckets`: `increase()` of the relist duration histogram buckets, by node and `le`;
* `relist`: relist duration and interval `_sum`/`_count` increases;
* `runtime_buckets_lists`, `runtime_buckets_status`: runtime operation latency buckets for the
  relist's own calls and `status` (the largest answer, in two halves evaluated side by side);
* `runtime`: their `_sum`/`_count`, calls (`kubelet_runtime_operations_total`) and errors;
* `counters`: discards, EventedPLEG connection errors, kubelet CPU, started containers, restarts
  (`changes(process_start_time_seconds)`) and scrapes in the range;
* `gauges`: the last scrape's gauges (`kubelet_pleg_last_seen_seconds` and `timestamp()` of that
  scrape, running pods and containers, process start, EventedPLEG totals and feature gate), the
  labels (`kubelet_node_name`, `kubernetes_build_info`) and `up`.

Queries with several parts join them with `or`, each part tagged by `label_replace(...,
"pleg_doctor_q", NAME, "", "")`: `increase()` drops metric names, so the tag is what keeps the
parts apart (and `or` keeps both sides since the tags differ). Every part aggregates `by (cluster,
instance)`: `instance` identifies a kubelet target (ANCHORS.md §3.1 joins on it, as the
kubernetes-mixin rules do), and `cluster` keeps two clusters behind one Thanos apart (an absent
label is just empty).

A node's `Window` is built from those answers (`node_window`) so that the core needs no fleet
special case: its counters ARE the server-side increases over `--range` (`seconds` = the range,
never lifetime: `Window.is_lifetime` is False), its gauges are the last scrape's, and its capture
time is that scrape's timestamp. Kubelets older than 1.14 expose only microsecond summaries, which
fleet mode does not read (kube-prometheus drops them at scrape time anyway, ANCHORS.md §5); such
nodes get verdict `unknown` with that reason.

HTTP goes through the request primitive of the live kubelet sources (`sources/http/`'s
`http_client`): credentials resolved and TLS files written once per fetch, one retry on connection
errors, timeouts, no redirects, errors translated; secrets (the token, every `--header` value)
never reach a message or a debug log. `source` adds the query parameters, the JSON decoding
and the Prometheus API's own errors.

Modules: `queries` (the PromQL sent), `assembly` (answers → one `FleetNode` per kubelet),
`source` (`PrometheusSource`: the API calls, their JSON and their errors).
"""

"""Fleet mode's source: a few PromQL instant queries for every kubelet, one `Window` per node.

`pleg-doctor fleet --prometheus URL` asks a Prometheus-compatible HTTP API (Prometheus, Thanos
Query, Mimir under its `/prometheus` prefix, VictoriaMetrics; the URL's path prefix is kept and
`/api/v1/query` appended) for what `diagnose` reads from one scrape pair, for the whole fleet at
once (never a round trip per node). Nine API calls at most, whatever the
fleet size: the server's clock (`time()`, skipped with `--at`), a look for the recording rules of
`pleg-doctor rules` (`pleg_doctor_rules_info` for this selector and range; skipped with
`--recorded no`), then seven instant vector queries, four at a time; with the rules loaded, the
five of the histograms become two plain selections of the rules' series, by name:

* `relist`, `relist_quantiles`: what the relist histogram says over the range, measured by the
  server exactly as the recording rules of `pleg-doctor rules` measure it (`recording.py`): relists,
  their sum, those over 10 s and their mean, p50 and p99 (`histogram_quantile`), the interval's
  sum and count; the µs summaries of kubelets before 1.17 alike;
* `runtime`, `runtime_shapes`, `runtime_quantiles`: per runtime operation of the relist (and
  `status`), its calls, errors, latency count and sum, calls that hit the CRI timeout, the mean
  of those over 10 s (DefBuckets) and the p99;
* `counters`: discards, EventedPLEG connection errors, kubelet CPU, started containers, restarts
  (`changes(process_start_time_seconds)`) and scrapes in the range;
* `gauges`: the last scrape's gauges (`kubelet_pleg_last_seen_seconds` and `timestamp()` of that
  scrape, running pods and containers, process start, EventedPLEG totals and feature gate), the
  labels (`kubelet_node_name`, `kubernetes_build_info`) and `up`.

So a node costs a few dozen numbers, not its ~90 histogram buckets; when the recording rules are
loaded, the measurements are read from their series instead of computed.

Queries with several parts join them with `or`, each part tagged by `label_replace(...,
"pleg_doctor_q", NAME, "", "")`: `increase()` drops metric names, so the tag is what keeps the
parts apart (and `or` keeps both sides since the tags differ). Every part aggregates `by (cluster,
instance)`: `instance` identifies a kubelet target (the kubernetes-mixin
rules join on it), and `cluster` keeps two clusters behind one Thanos apart (an absent
label is just empty).

A node's `Window` is built from those answers (`node_window`) so that the core needs no fleet
special case: its counters ARE the server-side increases over `--range` (`seconds` = the range,
never lifetime: `Window.is_lifetime` is False), its histograms hold the server's measurements
(`distribution.measured_histogram`: every figure the model reads is the server's), its gauges
are the last scrape's, and its capture time is that scrape's timestamp.

HTTP goes through the request primitive of the live kubelet sources (`sources/http/`'s
`http_client`): credentials resolved and TLS files written once per fetch, one retry on connection
errors, timeouts, no redirects, errors translated; secrets (the token, every `--header` value)
never reach a message or a debug log. `source` adds the query parameters, the JSON decoding
and the Prometheus API's own errors.

Modules: `queries` (the PromQL sent), `assembly` (answers → one `FleetNode` per kubelet),
`source` (`PrometheusSource`: the API calls, their JSON and their errors).
"""

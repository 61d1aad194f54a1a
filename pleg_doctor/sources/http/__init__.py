"""Shared HTTP for the live sources: the kubelet, the API server, Prometheus, the Node view.

Every live source does the same thing: a `GET` over HTTP(S) with some credentials (a kubelet's
`/metrics`, the API server's proxy to it, a Prometheus query API), and all must fail the same way:
one or two lines that say what failed, on which URL, and what to try, never a traceback and never a
secret (docs/output.md#errors, docs/sources.md#every-live-source: `--timeout` per request, a retry on connection errors,
`--debug` with secrets redacted). One job per module:

* `settings`: how to authenticate and verify TLS (`HttpSettings`) and how to phrase errors for
  one kind of endpoint (`EndpointWording`: e.g. which RBAC permission a 403 needs);
* `credentials`: the `Authorization` header and the list of secrets, from a token, a token file,
  basic auth or a client certificate;
* `tls`: the CA bundle, certificate and key files (PEM bytes in memory files, never on disk);
* `transport`: the requests adapter and urllib3 connections (no retries of their own, quiet);
* `client`: the one request primitive, `http_client()` / `HttpClient.get()`: one retry on
  connection errors, timeouts, no redirects, the body read whole within bounds; it returns a
  `RawResponse`, and what the body means is the caller's;
* `failures`: every `requests`, `urllib3`, `ssl` and OS exception and every refused status
  translated into the errors of `pleg_doctor.errors`;
* `redaction`: secrets kept out of URLs, quoted text and debug logs;
* `metrics`: the scrape of a Prometheus exposition on top of the client (`fetch_metrics_url`).

Secrets never leave this package except in the `Authorization` header on the wire: messages are
built from URLs, file paths and status codes (never from a third-party exception's text, which can
quote a header), and the debug log redacts credential headers. `http.client`'s own debug printing
(which prints every request header, including `Authorization`) is pinned off for our connections.
"""

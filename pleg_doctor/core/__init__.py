"""The pure core: metrics bytes → samples → Snapshot/Window → model → causes → Report.

Nothing here does I/O, reads a clock or the environment, or imports an edge library (click,
rich, requests, prometheus_client, yaml, subprocess, sockets) or another layer of the package
(`commands`, `sources`, `render`, `logs`, `cli`); `tests/test_layers.py` checks it.
"""

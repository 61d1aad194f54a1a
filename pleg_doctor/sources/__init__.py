"""The edges that read the world: kubelet metrics, the Node's view, the runtime itself.

Saved dumps and the bundled demo (`files`), the kubelet's `/metrics` (`kubelet`), the API
server's proxy to it (`apiserver`, with `kubeconfig`), a Prometheus-compatible API for a fleet
(`prometheus`), the Node's Ready condition and events (`nodestatus`), crictl (`crictl`); `http`
is their one request primitive, `options` turns the command line into sources, and `scrape`
turns a fetched dump into the core's Snapshot. Sources may import the core, never the commands.
"""

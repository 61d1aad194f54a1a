"""Where kubelet metrics come from: saved dumps, the kubelet, the API server (the edges)."""

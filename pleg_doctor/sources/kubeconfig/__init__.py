"""Kubeconfigs read the way kubectl reads them, and the credentials they lead to.

`--node NAME` goes through the API server (docs/sources.md#through-the-api-server), so it must
authenticate exactly as the user's kubectl would: the same file lookup (`--kubeconfig`, else
`KUBECONFIG`, a list merged first-wins, else `~/.kube/config`), `--context`, and the same credential
kinds, including exec credential plugins such as `aws eks get-token` (docs/sources.md#through-the-api-server).

Modules: `config` (the files: lookup, merge, the selected context) and `credentials` (exec
credential plugins, and a context's user and cluster as `HttpSettings` for each request).
Secrets (tokens, passwords, key data, plugin output) are kept out of `repr()`, out of messages and
out of logs.
"""

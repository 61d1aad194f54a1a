#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, then lint, types, tests.
#
#   ./scripts/test.sh            everything (what CI runs through .ci/run)
#   ./scripts/test.sh -k model   extra arguments go to pytest
#
# Needs: python3 ≥ 3.10 with venv; root (or sudo) for apt-get when Debian's prometheus,
# prometheus-pushgateway and prometheus-node-exporter are missing (the integration tests run the
# real binaries, and fail loudly rather than skip when they are absent).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

if ! dpkg -s prometheus prometheus-pushgateway prometheus-node-exporter >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "==> installing Debian packages: prometheus prometheus-pushgateway prometheus-node-exporter"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends \
        prometheus prometheus-pushgateway prometheus-node-exporter >/dev/null
fi
# The Debian packages start their daemons on their default ports; the tests start their own on
# free loopback ports, so the package's services are not needed (nor in the way).

if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$PY" -m venv "$VENV"
fi
echo "==> installing pleg-doctor with its test dependencies"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]"

echo "==> ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "==> mypy --strict"
"$VENV/bin/mypy"
echo "==> pytest (with coverage)"
"$VENV/bin/python" -m coverage run -m pytest "$@"
if [ $# -eq 0 ]; then
    # The pure core carries the diagnosis: keep it covered (docs/architecture.md#conventions).
    echo "==> coverage of the core"
    "$VENV/bin/python" -m coverage report --fail-under=90 \
        --include='pleg_doctor/core/*'
fi

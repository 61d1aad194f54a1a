from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
REAL_DUMPS = sorted(FIXTURES.glob("*.prom"))

# Renderers are pinned in tests: no colour, fixed width (docs/architecture.md#conventions).
os.environ["NO_COLOR"] = "1"
os.environ["TERM"] = "dumb"


@pytest.fixture(params=REAL_DUMPS, ids=[p.stem for p in REAL_DUMPS])
def real_dump(request: pytest.FixtureRequest) -> Path:
    return request.param


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`console.setup_logging()` (every CLI run) reconfigures the `pleg_doctor` logger; undo it
    after each test so later tests' `caplog` sees DEBUG records again."""
    logger = logging.getLogger("pleg_doctor")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


@pytest.fixture
def bounds(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set `PLEG_DOCTOR_MAX_*` (or other) variables for one test, the cached bounds re-read:
    `bounds(PLEG_DOCTOR_MAX_SAMPLES="30000")`."""
    from pleg_doctor.sources import limits

    def set_bounds(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        limits.current.cache_clear()

    limits.current.cache_clear()
    yield set_bounds
    monkeypatch.undo()
    limits.current.cache_clear()

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
REAL_DUMPS = sorted(FIXTURES.glob("*.prom"))

# Renderers are pinned in tests: no colour, fixed width (STYLE.md rule 11).
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

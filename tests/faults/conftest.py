"""Fault-injection scenarios (tests/faults/README.md): whole clusters started by `hybridstore cluster` from a
build configured with -Dfault_injection=true (`make test-faults` builds build-faults and points
HS_BUILD_DIR at it). Each test module starts its own cluster with the short healer/gateway/node
timings it needs (faultlib.start_cluster), breaks it, and asserts the outcome.

The shared helpers live in tests/integration (harness.py, cluster.py) and here (faultlib.py,
checker.py)."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import HS_BIN  # noqa: E402


@pytest.fixture(scope="session")
def hs_bin():
    assert os.access(HS_BIN, os.X_OK), f"build first: {HS_BIN} is missing"
    return HS_BIN

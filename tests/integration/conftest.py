"""Fixtures for the integration tests: a real etcd per test module."""
import os

import pytest

from harness import HS_BIN, Etcd


@pytest.fixture(scope="session")
def hs_bin():
    assert os.access(HS_BIN, os.X_OK), f"build first: {HS_BIN} is missing"
    return HS_BIN


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    server = Etcd(str(tmp_path_factory.mktemp("etcd")))
    yield server
    server.stop()

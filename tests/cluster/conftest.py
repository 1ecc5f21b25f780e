"""Cluster tests: scenarios against whole clusters started by `hybridstore cluster` (the same
launcher `make run` uses), on free loopback ports in temp dirs. The helpers (HsCluster, Proc,
wait_until) live in tests/integration and are shared."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))

from cluster import HsCluster  # noqa: E402


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One cluster per test module: etcd, 6 nodes, 2 gateways (no nginx in between unless the
    test asks for the LB url), no healers unless a module overrides this fixture."""
    c = HsCluster(str(tmp_path_factory.mktemp("cluster")), nodes=6, gateways=2, healers=0)
    c.start()
    yield c
    c.stop()

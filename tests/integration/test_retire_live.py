"""The retire sweeper's batched etcd requests (src/healer/retire_etcd.c) against a real etcd:
the live_retire cmocka program (one read-only txn for a group's manifests, one fenced txn for a
group's records, a record rewritten or gone meanwhile never deleted, a lost fence deleting
nothing)."""
import os
import subprocess

import harness

LIVE_RETIRE = os.path.join(harness.BUILD_DIR, "tests/unit/live_retire")


def test_live_retire_suite_passes(etcd):
    assert os.access(LIVE_RETIRE, os.X_OK), f"build first: {LIVE_RETIRE} is missing"
    env = dict(os.environ, HS_TEST_ETCD_ENDPOINTS=etcd.endpoint)
    res = subprocess.run([LIVE_RETIRE], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, \
        f"live_retire failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"

"""The C etcd client (src/meta/etcd*.c) against real etcd: the live_etcd cmocka program on a
single member, and a put loop through a 3-member cluster whose leader is SIGSTOPped."""
import os
import re
import signal
import subprocess
import time

import harness

LIVE_ETCD = os.path.join(harness.BUILD_DIR, "tests/unit/live_etcd")


def run_live(endpoints, *args, timeout=120):
    assert os.access(LIVE_ETCD, os.X_OK), f"build first: {LIVE_ETCD} is missing"
    env = dict(os.environ, HS_TEST_ETCD_ENDPOINTS=endpoints)
    return subprocess.run([LIVE_ETCD, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_live_etcd_client_suite_passes(etcd):
    res = run_live(etcd.endpoint)
    assert res.returncode == 0, f"live_etcd failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"


def test_puts_resume_within_seconds_after_leader_sigstop(tmp_path):
    cluster = harness.EtcdCluster(str(tmp_path), size=3)
    leader = None
    try:
        leader = cluster.leader_index()
        # the leader first: the client is talking to it when it freezes (the worst case)
        order = [leader] + [i for i in range(3) if i != leader]
        endpoints = ",".join(cluster.endpoints[i] for i in order)
        env = dict(os.environ, HS_TEST_ETCD_ENDPOINTS=endpoints)
        proc = subprocess.Popen([LIVE_ETCD, "put-loop", "14"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(2.5)
        stop_ms = time.monotonic() * 1000  # CLOCK_MONOTONIC, the clock live_etcd prints
        cluster.members[leader].signal(signal.SIGSTOP)
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        cluster.members[leader].signal(signal.SIGCONT)
        report = f"exit {proc.returncode}\nstdout tail:\n{out[-4000:]}\nstderr:\n{err[-4000:]}"
        ok_times = [int(m.group(1)) for m in re.finditer(r"^ok t_ms=(\d+)", out, re.M)]
        assert any(t < stop_ms for t in ok_times), "no put succeeded before the stop\n" + report
        after = [t for t in ok_times if t > stop_ms]
        assert after, "puts never resumed after the leader was stopped\n" + report
        resumed_s = (after[0] - stop_ms) / 1000.0
        fails = len(re.findall(r"^fail ", out, re.M))
        summary = [ln for ln in out.splitlines() if ln.startswith(("loop_done", "watch "))]
        print(f"puts resumed {resumed_s:.2f}s after SIGSTOP of the leader; failed puts: {fails}; "
              + "; ".join(summary))
        assert resumed_s < 15.0, f"puts resumed only after {resumed_s:.1f}s\n" + report
        assert proc.returncode == 0, "put loop or watch check failed\n" + report
    finally:
        if leader is not None:
            cluster.members[leader].signal(signal.SIGCONT)
        cluster.stop()

"""Scenarios 7 and 8 of tests/faults/README.md on a cluster with a three-member etcd (`hybridstore cluster
--etcd 3`), 7 nodes, 2 gateways and 2 healers.

7. The etcd raft leader is SIGKILLed under a write load: writes resume after the election and
   every acknowledged write is readable afterwards.
8. The consistency checker (checker.py) runs several clients writing, overwriting, reading and
   deleting random keys (every strategy, 0 B to ~2 MiB, both APIs) while nodes are SIGKILLed
   (scenario 1), bytes are flipped on disk (scenario 4) and the etcd leader is SIGKILLed
   (scenario 7); its report (one JSON line) must show zero anomalies."""
import json
import os
import subprocess
import sys
import time

import pytest

import checker
import faultinject
import faultlib as fl

ENV = {
    "HS_HEALER_NODE_GRACE": "1h",
    "HS_HEALER_GC_GRACE": "5s",
    # slow uploads of the checker (1-4 s) outlive the WAL timeout: progress must keep them
    "HS_HEALER_WAL_TIMEOUT": "3s",
    "HS_HEALER_WAL_OWNER_GRACE": "3s",
    "HS_GATEWAY_WAL_ALIVE_INTERVAL": "500ms",
}
CHECKER_SECONDS = 60


@pytest.fixture(scope="module")
def env(tmp_path_factory, hs_bin):  # hs_bin: a clear failure when the build is missing
    c = fl.start_cluster(tmp_path_factory.mktemp("faults-etcd"), env=ENV, nodes=7,
                         gateways=2, healers=2, etcd=3)
    st = type("State", (), {})()
    st.c = c
    st.urls = fl.gateway_urls(c)
    st.inj = faultinject.Injector(c, seed=8)  # nodes it restarts run until the module ends
    yield st
    st.inj.close()
    c.stop()


def resumed_at(attempts, run=12):
    """End time of the first run of `run` consecutive acknowledged writes (by start time)
    covering every strategy and API, or None."""
    streak = []
    for a in sorted(attempts):
        streak = streak + [a] if a[5] in (200, 201) else []
        if len(streak) >= run and {(x[3], x[4]) for x in streak[-run:]} == set(fl.WRITE_KINDS):
            return max(x[1] for x in streak[-run:])
    return None


def test_7_etcd_leader_sigkilled_under_write_load(env):
    c = env.c
    load = fl.WriteLoad(env.urls, "s7", threads=3, seed=7, pause=0.05).start()
    leader = None
    try:
        time.sleep(4)
        leader = fl.etcd_leader_name(c)
        t_kill = time.monotonic()
        c.kill(leader)
        new_leader = fl.etcd_leader_name(c, timeout=20)
        t_elected = time.monotonic()
        # writes resume: a run of acknowledged writes of every kind, all started after the kill
        # (a loaded machine can stall etcd for seconds after the election: failures meanwhile
        # are answered as 503 and are not acknowledged, which is allowed)
        t_resumed = fl.wait_until(lambda: resumed_at(load.attempts(since=t_kill)), timeout=45,
                                  interval=0.2, what="writes to resume after the election")
        time.sleep(2)
    finally:
        load.stop()
        if leader:  # the checker below needs the whole etcd again, whatever happened here
            env.inj.restart_etcd_member(leader)
    assert new_leader != leader
    after = load.attempts(since=t_kill)
    first_ack = min(a[1] for a in after if a[5] in (200, 201))
    print(f"\netcd leader {leader} killed: new leader seen after {t_elected - t_kill:.1f}s, "
          f"first write started after the kill acknowledged after {first_ack - t_kill:.1f}s, "
          f"steady again after {t_resumed - t_kill:.1f}s; "
          f"{sum(a[5] not in (200, 201) for a in after)}/{len(after)} writes failed meanwhile")
    assert first_ack - t_kill < 15, f"writes resumed only {first_ack - t_kill:.1f}s after the kill"
    assert len(load.acked) > 20
    assert not fl.unreadable(env.urls, load.acked)


def test_8_consistency_checker_under_faults(env, capsys):
    c, inj = env.c, env.inj
    urls = env.urls + [c.url]  # the gateways directly and through nginx
    schedule = inj.schedule(["node", "flip", "etcd"], CHECKER_SECONDS)
    report = checker.run(urls, CHECKER_SECONDS, n_threads=4, n_keys=24, schedule=schedule,
                         seed=8, slow=0.15, flood=True)
    inj.heal()
    line = json.dumps(report, separators=(",", ":"))
    with open(f"{c.dir}/checker-report.json", "w", encoding="utf-8") as f:
        f.write(line + "\n")
    with capsys.disabled():
        print("\n" + line)
    counts = report["counts"]
    assert report["anomalies"] == 0, line
    assert report["faults_injected"] >= 5, line
    assert counts["write_ok"] >= 50 and counts["read_value"] >= 50, line
    assert counts["delete_ok"] >= 5 and counts["hot_updates"] >= 3, line
    assert counts["reads_checked"] == counts["read_value"] + counts["read_absent"], line
    assert counts["slow_writes"] >= 3 and counts["flood_connections"] >= 100, line
    # and redundancy came back by itself: every blob in place, no orphan left (GC grace 5 s)
    fl.wait_full_redundancy(c, timeout=120, what="full redundancy after the checker's faults")
    fl.wait_until(lambda: not fl.orphans(c), timeout=60, interval=1, what="no orphan blobs")


def test_8_checker_runs_as_a_script(env):
    """checker.py against the running cluster from the command line: one JSON line, exit 0."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checker.py")
    out = subprocess.run([sys.executable, script, "--cluster-dir", env.c.dir, "--duration", "8",
                          "--threads", "2", "--keys", "6", "--faults", "flip", "--seed", "3"],
                         capture_output=True, text=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0 and len(lines) == 1, (out.returncode, out.stdout, out.stderr)
    report = json.loads(lines[0])
    assert report["anomalies"] == 0 and report["faults_injected"] == 2, lines[0]
    assert report["counts"]["write_ok"] > 0 and report["counts"]["read_value"] > 0, lines[0]


def test_8_checker_sees_a_lost_write(env):
    """The checker is sensitive: a manifest deleted behind the gateways' back (an acknowledged
    write lost) is reported as a stale read by the final check."""
    chk = checker.Checker(env.urls, n_threads=2, n_keys=6, seed=11).start()
    time.sleep(4)
    chk.stop()
    lost = []
    for key, muts in chk.muts.items():
        last = max(muts, key=lambda m: m.start) if muts else None
        if last and last.kind == "put" and all(m.status == "ok" for m in muts) and \
                all(m.end < last.start for m in muts if m.kind == "del"):
            fl.etcd_post(env.c, "/v3/kv/deleterange", {"key": fl.b64(fl.META + key)})
            lost.append(key)
    assert lost, "no key ended with an acknowledged write"
    chk.final_verify()
    report = chk.report()
    flagged = {a["key"] for a in chk.anomalies if a["kind"] == "stale_read"}
    assert flagged == set(lost) and report["anomalies"] == len(lost), (lost, report)

"""`hybridstore cluster`: the launcher `make run` and the cluster tests use.

Starts real etcd and real storage nodes on derived loopback ports in a temp dir, and checks what
the launcher promises: health before "up", cluster.json accurate, node registrations in etcd,
clean stop by PID on SIGTERM, data kept across restarts, side-by-side clusters, 3-member etcd.
"""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import time

import pytest
import requests

from cluster import HsCluster, pick_base_port
from harness import wait_until

def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def all_pids(c):
    return [p["pid"] for p in c.processes()]


def test_help_lists_options_and_print_config_shows_defaults(hs_bin):
    out = subprocess.run([hs_bin, "cluster", "--help"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0, out.stderr
    for flag in ("--dir", "--port", "--nodes", "--gateways", "--healers", "--etcd", "--fsync"):
        assert flag in out.stdout
    out = subprocess.run([hs_bin, "cluster", "--print-config", "--nodes", "4"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^nodes = 4$", out.stdout, re.M), out.stdout
    assert re.search(r"^port = 8000$", out.stdout, re.M), out.stdout
    bad = subprocess.run([hs_bin, "cluster", "--etcd", "2"], capture_output=True, text=True,
                         timeout=10)
    assert bad.returncode == 2


def test_six_nodes_register_then_sigterm_stops_every_process(tmp_path):
    c = HsCluster(tmp_path / "c", nodes=6, etcd=1).start()
    try:
        info = c.info
        assert info["url"] == f"http://127.0.0.1:{c.port}"
        assert info["etcd"] == f"http://127.0.0.1:{c.port + 100}"
        roles = [p["role"] for p in info["processes"]]
        assert roles == ["etcd"] + ["node"] * 6
        for p in info["processes"]:
            assert p["status"] == "running" and alive(p["pid"]), p
            assert os.path.isfile(p["log"]), p
        for i in range(6):
            n = c.node(i)
            assert n["url"] == f"http://127.0.0.1:{c.port + 200 + i}"
            assert n["data_dir"] == os.path.join(c.dir, f"node{i}")
            assert requests.get(n["url"] + "/v1/health", timeout=2).status_code == 200
        # each node registers itself under a lease; the launcher only waited for /v1/health
        nodes = wait_until(lambda: len(c.registered_nodes()) == 6 and c.registered_nodes(),
                           timeout=15, what="6 node registrations in etcd")
        assert all(k.startswith("/hybridstore/v1/nodes/") for k in nodes)
        mode = stat.S_IMODE(os.stat(info["secret_file"]).st_mode)
        assert mode == 0o600
        assert re.fullmatch(r"[0-9a-f]{64}", c.secret)
        with open(c.launcher_log, encoding="utf-8") as f:
            log = f.read()
        assert (f"hybridstore cluster up: http://127.0.0.1:{c.port} \u2014 etcd 1/1, nodes 6/6, "
                "gateways 0/0, healers 0/0") in log
        pids = all_pids(c)
    finally:
        rc = c.stop()
    assert rc == 0
    assert not [pid for pid in pids if alive(pid)]
    info = c.info
    assert info["state"] == "stopped"
    assert all(p["pid"] is None and p["status"] == "stopped" for p in info["processes"])


def test_restart_on_same_dir_keeps_secret_etcd_data_and_node_dirs(tmp_path):
    d = tmp_path / "c"
    c = HsCluster(d, nodes=2).start()
    try:
        secret = c.secret
        c.etcd_put("/test/marker", "kept")
        cluster_id = c.etcd_post("/v3/kv/range", {"key": "AA=="})["header"]["cluster_id"]
        node_inode = os.stat(c.node(0)["data_dir"]).st_ino
        with open(os.path.join(c.dir, "etcd-token"), encoding="ascii") as f:
            token = f.read()
    finally:
        assert c.stop() == 0
    c2 = HsCluster(d, nodes=2, port=c.port).start()
    try:
        assert c2.secret == secret
        assert c2.etcd_range("/test/marker") == {"/test/marker": b"kept"}
        assert c2.etcd_post("/v3/kv/range", {"key": "AA=="})["header"]["cluster_id"] == cluster_id
        assert os.stat(c2.node(0)["data_dir"]).st_ino == node_inode
        with open(os.path.join(c2.dir, "etcd-token"), encoding="ascii") as f:
            assert f.read() == token
        wait_until(lambda: len(c2.registered_nodes()) == 2, timeout=15,
                   what="2 node registrations after restart")
    finally:
        assert c2.stop() == 0


def test_two_clusters_run_side_by_side_on_different_ports(tmp_path):
    a = HsCluster(tmp_path / "a", nodes=2).start()
    try:
        port_b = pick_base_port(nodes=2, exclude=[a.port])
        b = HsCluster(tmp_path / "b", nodes=2, port=port_b).start()
        try:
            assert a.port != b.port
            assert a.etcd != b.etcd
            ida = a.etcd_post("/v3/kv/range", {"key": "AA=="})["header"]["cluster_id"]
            idb = b.etcd_post("/v3/kv/range", {"key": "AA=="})["header"]["cluster_id"]
            assert ida != idb
            assert a.secret != b.secret
            for c in (a, b):
                nodes = wait_until(lambda c=c: len(c.registered_nodes()) == 2 and
                                   c.registered_nodes(), timeout=15, what="2 registrations")
                urls = b"".join(nodes.values())
                for i in range(2):
                    assert c.node_url(i).encode().split(b"//")[1] in urls
        finally:
            assert b.stop() == 0
    finally:
        assert a.stop() == 0


def test_three_etcd_members_form_one_cluster(tmp_path):
    c = HsCluster(tmp_path / "c", nodes=1, etcd=3).start()
    try:
        eps = c.etcd_endpoints
        assert len(eps) == 3
        assert [p["name"] for p in c.processes("etcd")] == ["etcd0", "etcd1", "etcd2"]
        for ep in eps:
            members = c.etcd_members(ep)
            assert sorted(m["name"] for m in members) == ["etcd0", "etcd1", "etcd2"]
        c.etcd_put("/test/three", "x", endpoint=eps[0])
        assert c.etcd_range("/test/three", endpoint=eps[2]) == {"/test/three": b"x"}
        wait_until(lambda: len(c.registered_nodes()) == 1, timeout=15, what="registration")
        pids = all_pids(c)
    finally:
        assert c.stop() == 0
    assert not [pid for pid in pids if alive(pid)]


def test_killed_node_is_logged_recorded_and_not_restarted(tmp_path):
    c = HsCluster(tmp_path / "c", nodes=3).start()
    try:
        pid = c.node_pid(1)
        c.kill("node1")
        p = c.node(1)
        assert p["pid"] is None and p["exit"] == "signal 9"
        assert not alive(pid)
        with open(c.launcher_log, encoding="utf-8") as f:
            log = f.read()
        assert re.search(r"evt=child_exited role=node name=node1 pid=%d status='signal 9'" % pid,
                         log), log
        wait_until(lambda: "evt=cluster_health etcd=1/1 nodes=2/3" in open(
            c.launcher_log, encoding="utf-8").read(), timeout=5, what="health summary line")
        time.sleep(1.5)
        assert c.node(1)["pid"] is None, "the launcher must not restart a killed process"
        assert alive(c.node_pid(0)) and alive(c.node_pid(2))
        # a test may bring it back by hand from the recorded argv; stop() stops it by PID
        again = c.respawn("node1")
        wait_until(lambda: requests.get(c.node_url(1) + "/v1/health", timeout=1).ok,
                   timeout=15, what="respawned node1 health")
        pids = [p for p in all_pids(c) if p] + [again.pid]
    finally:
        assert c.stop() == 0
    assert not [p for p in pids if alive(p)]


def test_busy_port_is_named_and_nothing_starts(tmp_path, hs_bin):
    base = pick_base_port(nodes=0)
    busy = base + 101  # etcd0's peer port
    with socket.socket() as s:
        # as pick_base_port probed it: a connection of an earlier cluster in TIME_WAIT on that
        # port must not stop this listener (the launcher's own bind still fails: it listens)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", busy))
        s.listen(1)
        out = subprocess.run([hs_bin, "cluster", "--dir", str(tmp_path / "c"), "--port",
                              str(base), "--nodes", "0"], capture_output=True, text=True,
                             timeout=30)
    assert out.returncode == 3, out.stderr
    assert f"port {busy} (etcd0 peer) is in use" in out.stderr
    assert not os.path.exists(tmp_path / "c" / "cluster.json")
    assert not os.path.exists(tmp_path / "c" / "etcd0")


def test_second_launcher_on_same_dir_is_refused(tmp_path, hs_bin):
    c = HsCluster(tmp_path / "c", nodes=0).start()
    try:
        out = subprocess.run([hs_bin, "cluster", "--dir", c.dir, "--port",
                              str(pick_base_port(nodes=0, exclude=[c.port])), "--nodes", "0"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 2
        assert "evt=dir_in_use" in out.stderr
        assert c.info["state"] == "up" and alive(c.pid("etcd0"))
    finally:
        assert c.stop() == 0


def test_etcd_member_count_cannot_change_on_an_existing_dir(tmp_path, hs_bin):
    c = HsCluster(tmp_path / "c", nodes=0, etcd=1).start()
    assert c.stop() == 0
    out = subprocess.run([hs_bin, "cluster", "--dir", c.dir, "--port", str(c.port), "--nodes",
                          "0", "--etcd", "3"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "evt=etcd_layout_mismatch" in out.stderr


def test_killing_the_launcher_takes_its_children_down(tmp_path):
    c = HsCluster(tmp_path / "c", nodes=2).start()
    pids = all_pids(c)
    c.launcher.popen.send_signal(signal.SIGKILL)
    c.launcher.popen.wait(10)
    wait_until(lambda: not [p for p in pids if alive(p)], timeout=20,
               what="children to exit after the launcher died")
    c.launcher.log.close()
    c.launcher = None


def test_process_dying_during_startup_fails_the_launch_and_stops_the_rest(tmp_path, hs_bin):
    d = tmp_path / "c"
    d.mkdir()
    (d / "etcd0").write_text("not a directory")  # etcd exits at once: cannot use its data dir
    out = subprocess.run([hs_bin, "cluster", "--dir", str(d), "--port",
                          str(pick_base_port(nodes=0)), "--nodes", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    assert re.search(r"evt=start_failed role=etcd name=etcd0 status='code \d+'", out.stderr)
    with open(d / "cluster.json", encoding="utf-8") as f:
        info = json.load(f)
    assert info["state"] == "stopped"
    assert info["processes"][0]["status"] == "exited"

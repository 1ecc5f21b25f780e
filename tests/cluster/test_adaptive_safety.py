"""Adaptive hot fields are safe while they change: the consistency checker (tests/faults/checker.py:
every JSON document carries the id of the write that made it in like_count, the id of the write
that made its cold content in cw, and a digest of every other field in update_count, so a lost,
stale or mixed document is seen) runs against a collection whose layout is forced to flip every
few seconds between two opposite hot sets (`hybridstore layout pin`), while the healer re-lays
out the objects each flip demotes, a gateway is SIGKILLed (and restarted), the leading healer is
SIGKILLed (the standby takes over) and a node is down. A few idle documents, written once before
the flips and never again, are what the healer must re-lay out on every demoting flip (the
checker's keys are rewritten by clients faster than a round comes); they read back byte-exact
afterwards. Shadows are on: every third flip only
promotes a field, and the checker's pure hot updates after it keep their cold parts (a few per
run: most writes change the cold content or the strategy; the count is in the printed line). Afterwards every blob of every manifest
is in place (what the audit checks, blob by blob) and no orphan blob is left.

No fault build is needed. Run:
    HS_BUILD_DIR=$PWD/build /usr/bin/python3 -m pytest -q -p no:cacheprovider \
        tests/cluster/test_adaptive_safety.py
"""
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))

import checker  # noqa: E402
import faultlib as fl  # noqa: E402
from harness import HS_BIN, wait_until  # noqa: E402

CONFIG = "/hybridstore/v1/config/"
LAYOUT = "/hybridstore/v1/layout/"
PREFIX = "adck"
COLL = PREFIX + "/"
SECONDS = 36          # checker run
IDLE = 6              # documents no client writes after the start: only the healer moves them
FLIP_EVERY = 3.0      # seconds between two layout flips
# (pin_hot, pin_cold), in turn; the third only promotes key from the second, so the writes
# after it keep their cold parts under shadows (config/manifest-shadows)
LAYOUTS = (("cw,key,pad", "like_count,update_count,view_count"),
           ("like_count,update_count,view_count", "cw,key,pad"),
           ("key,like_count,update_count,view_count", "cw,pad"))
ENV = {
    "HS_HEALER_NODE_GRACE": "1h",     # the node that is down stays in placement: degraded, not moved
    "HS_HEALER_GC_GRACE": "5s",
    "HS_HEALER_LAYOUT_INTERVAL": "1s",
    "HS_HEALER_LAYOUT_MIN_CHANGE": "0s",
    "HS_HEALER_LAYOUT_MIN_WRITES": "40",
    "HS_HEALER_RELAYOUT_RATE": "100",
}


@pytest.fixture(scope="module")
def cl(tmp_path_factory):
    c = fl.start_cluster(tmp_path_factory.mktemp("adsafe"), env=ENV, nodes=7, gateways=2,
                         healers=2)
    c.etcd_put(CONFIG + "manifest-fields", "on")
    # a flip that promotes fields keeps cold parts under shadows: those writes are checked too
    c.etcd_put(CONFIG + "manifest-shadows", "on")
    yield c
    c.stop()


def pin(c, hot, cold):
    out = subprocess.run([HS_BIN, "layout", "pin", COLL, "--hot", hot, "--cold", cold,
                          "--etcd", c.etcd], capture_output=True, text=True, timeout=60)
    return out.returncode == 0


def record(c):
    raw = c.etcd_range(LAYOUT + COLL).get(LAYOUT + COLL)
    return json.loads(raw) if raw else None


def relayout_log_lines(c):
    """Objects the healers re-laid out (evt=relayout lines whose reply says rewritten, in their logs)."""
    n = 0
    for p in c.processes("healer"):
        with open(p["log"], encoding="utf-8", errors="replace") as f:
            n += sum(1 for line in f if "evt=relayout " in line and "rewritten" in line)
    return n


def shadow_keeps(c):
    """Writes that kept a cold part under shadows, summed over the running gateways (a
    restarted one counts from zero)."""
    total = 0
    for url in fl.gateway_urls(c):
        try:
            text = requests.get(url + "/metrics", timeout=5).text
        except requests.RequestException:
            continue
        for ln in text.splitlines():
            if ln.startswith("hybridstore_gateway_shadow_keeps_total "):
                total += int(float(ln.split()[1]))
    return total


def idle_documents():
    """IDLE JSON documents with every field the flips move (the checker's keys are k000...)."""
    docs = {}
    for i in range(IDLE):
        doc = {"key": f"idle{i}", "cw": f"idle-cold-{i}", "pad": "p" * (24 << 10) + str(i),
               "like_count": i, "update_count": 10 * i, "view_count": 100 * i}
        docs[f"{PREFIX}/idle{i}"] = json.dumps(doc, separators=(",", ":")).encode()
    return docs


class Projector(threading.Thread):
    """Reads projections of the idle documents, the flips' two field sets in turn, and checks
    each against the document written. Those reads are what the healer promotes for: without
    them a demoting flip would leave the documents with nothing hot, and the next flips nothing
    to move."""

    SETS = (("like_count", "update_count", "view_count"), ("cw", "key", "pad"))

    def __init__(self, url, docs):
        super().__init__(daemon=True)
        self.gw = fl.Gw(url)
        self.docs = {k: json.loads(v) for k, v in docs.items()}
        self.keys = sorted(self.docs)
        self.stop_flag = threading.Event()
        self.ok = self.errors = 0
        self.wrong = []

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            key = self.keys[i % len(self.keys)]
            names = self.SETS[i % len(self.SETS)]
            i += 1
            try:
                r = self.gw.s.get(f"{self.gw.url}/v1/objects/{fl.qkey(key)}",
                                  params={"fields": ",".join(names)}, timeout=30)
            except requests.RequestException:
                self.errors += 1
                continue
            if r.status_code != 200:
                self.errors += 1
                continue
            want = {n: self.docs[key][n] for n in names}
            if r.json() == want:
                self.ok += 1
            else:
                self.wrong.append((key, names, r.text[:200]))
            self.stop_flag.wait(0.05)


class Flipper(threading.Thread):
    """Pins the collection's layout to LAYOUTS[0], [1], [2], [0], ... every FLIP_EVERY
    seconds."""

    def __init__(self, c):
        super().__init__(daemon=True)
        self.c = c
        self.stop_flag = threading.Event()
        self.flips = 0
        self.failed = 0

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            hot, cold = LAYOUTS[i % len(LAYOUTS)]
            if pin(self.c, hot, cold):
                self.flips += 1
            else:
                self.failed += 1
            i += 1
            self.stop_flag.wait(FLIP_EVERY)


def test_checker_sees_no_anomaly_while_layouts_flip_under_faults(cl, capsys):
    c = cl
    urls = fl.gateway_urls(c)
    chk = checker.Checker(urls, n_threads=3, n_keys=18, seed=10, prefix=PREFIX,
                          max_size=96 << 10)
    flipper = Flipper(c)
    down = {}
    idle = idle_documents()
    gw = fl.Gw(urls[0])
    for key, body in idle.items():
        r = gw.put(key, body, "field_hybrid", ctype="application/json")
        assert r.status_code in (200, 201), (key, r.status_code, r.text)
    projector = Projector(urls[0], idle)

    def kill_gateway():
        c.kill("gateway1")
        down["gateway1"] = True

    def restart_gateway():
        c.respawn("gateway1")
        url = c.proc("gateway1")["url"]

        def up():
            try:
                return requests.get(url + "/v1/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False
        wait_until(up, timeout=30, what="gateway1 back")

    def kill_leader_healer():
        leader = fl.leading_healer(c)
        c.kill(leader["name"])
        down["healer"] = leader["name"]
        # the standby takes over (healer lease 3 s)
        wait_until(lambda: fl.leading_healer(c)["name"] != leader["name"], timeout=30,
                   what="the standby healer to lead")

    def kill_node():
        c.kill("node3")
        down["node3"] = True

    schedule = [(6, "sigkill_gateway1", kill_gateway), (11, "restart_gateway1", restart_gateway),
                (15, "sigkill_leading_healer", kill_leader_healer),
                (22, "sigkill_node3", kill_node)]
    chk.start()
    flipper.start()
    projector.start()
    try:
        for t, name, fn in schedule:
            delay = chk.t0 + t - chk.now()
            if delay > 0:
                time.sleep(delay)
            fn()
            chk.note_fault(name, heal=name.startswith("restart"))
        delay = chk.t0 + SECONDS - chk.now()
        if delay > 0:
            time.sleep(delay)
    finally:
        flipper.stop_flag.set()
        projector.stop_flag.set()
        flipper.join(timeout=90)
        projector.join(timeout=90)
        chk.stop()
    # a last re-layout round with the node still down, then the final reads
    time.sleep(3)
    chk.final_verify()
    report = chk.report()
    relayouts = relayout_log_lines(c)
    keeps = shadow_keeps(c)
    line = json.dumps(dict(report, flips=flipper.flips, flip_failures=flipper.failed,
                           relayouts=relayouts, shadow_keeps=keeps, projections=projector.ok,
                           projection_errors=projector.errors), separators=(",", ":"))
    with capsys.disabled():
        print("\n" + line)
    counts = report["counts"]
    assert report["anomalies"] == 0, line
    assert flipper.flips >= 4, line
    rec = record(c)
    assert rec and (",".join(rec["pin_hot"]), ",".join(rec["pin_cold"])) in LAYOUTS, rec
    assert counts["write_ok"] >= 40 and counts["read_value"] >= 40, line
    assert counts["hot_updates"] >= 3, line
    assert not projector.wrong, projector.wrong[:3]
    assert projector.ok >= 40, line
    assert relayouts > 0, line  # the flips' demotions were re-laid out by the healer
    # the idle documents, re-laid out on every demoting flip, read back byte-exact (node3 down)
    gw = fl.Gw(fl.gateway_urls(c)[0])
    for key, body in idle.items():
        r = gw.get(key)
        assert r.status_code == 200 and r.content == body, (key, r.status_code, len(r.content))
    # the node comes back; every blob of every manifest in place and no orphan left
    c.respawn("node3")
    fl.wait_full_redundancy(c, timeout=180, what="full redundancy after the faults")
    wait_until(lambda: not fl.orphans(c), timeout=90, interval=1, what="no orphan blobs")

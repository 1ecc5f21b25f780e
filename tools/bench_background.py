#!/usr/bin/python3
"""bench_background.py - what one 1 KiB overwrite costs etcd and the nodes, background included
(docs/benchmarks.md, "Background cost per write (etcd and nodes)").

Against a cluster started by `hybridstore cluster` (its --dir holds cluster.json), best with a
short retire grace so that the sweeper's work for the writes falls inside the measurement:

    HS_HEALER_RETIRE_GRACE=1s build/hybridstore cluster --dir /tmp/c --port 31000 &
    /usr/bin/python3 tools/bench_background.py /tmp/c [--writes 2000] [--keys 200] [--runs 3]
    /usr/bin/python3 tools/bench_background.py /tmp/c --idle 10

Writes the keys once (untimed), then per run: snapshot, WRITES overwrites through the cluster's
URL (reference API, replication, 8 connections, this script's own CPU not counted), wait until
no retire/ record is left (the sweeper caught up), snapshot. A snapshot is etcd's /metrics
(grpc_server_msg_received_total by method, etcd_mvcc_* and raft proposal counters), every
node's /v1/stats ops, and utime+stime of every process of cluster.json by role. Prints each
run's deltas per write (--idle: per second of an idle cluster) and the write rate, then the
medians.
"""
import argparse
import base64
import http.client
import json
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from collections import defaultdict

HZ = os.sysconf("SC_CLK_TCK")
RETIRE = "/hybridstore/v1/retire/"
ETCD_COUNTERS = re.compile(r"(etcd_mvcc_(?:put|delete|range|txn)_total|"
                           r"etcd_server_proposals_committed_total|"
                           r"etcd_debugging_mvcc_events_total) (\S+)")
GRPC_MSGS = re.compile(r'grpc_server_msg_received_total\{.*grpc_method="(\w+)".*\} (\S+)')


class Cluster:
    def __init__(self, cdir):
        with open(os.path.join(cdir, "cluster.json"), encoding="utf-8") as f:
            self.info = json.load(f)
        with open(self.info["secret_file"], encoding="ascii") as f:
            self.secret = f.read().strip()
        self.etcd = self.info["etcd"].split(",")[0]

    def get(self, url, auth=False):
        req = urllib.request.Request(url)
        if auth:
            req.add_header("Authorization", "Bearer " + self.secret)
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read().decode()

    def retire_records(self):
        b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
        body = json.dumps({"key": b64(RETIRE), "range_end": b64(RETIRE[:-1] + "0"),
                           "count_only": True}).encode()
        req = urllib.request.Request(self.etcd + "/v3/kv/range", body)
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(json.loads(r.read()).get("count", 0))

    def snapshot(self):
        s = defaultdict(float)
        for line in self.get(self.etcd + "/metrics").splitlines():
            m = GRPC_MSGS.match(line)
            if m:
                s["etcd grpc " + m.group(1)] += float(m.group(2))
            m = ETCD_COUNTERS.match(line)
            if m:
                s["etcd " + m.group(1)] += float(m.group(2))
        for p in self.info["processes"]:
            try:
                with open("/proc/%d/stat" % p["pid"], encoding="ascii") as f:
                    f_ = f.read().rsplit(")", 1)[1].split()
                s["cpu ms " + p["role"]] += (int(f_[11]) + int(f_[12])) * 1000.0 / HZ
            except (OSError, KeyError, TypeError):
                pass
            if p["role"] == "node":
                ops = json.loads(self.get(p["url"] + "/v1/stats", auth=True))["ops"]
                for k in ("puts", "gets", "deletes", "lists"):
                    s["node " + k] += ops.get(k, 0)
        return s


def write_all(url, keys, n, prefill):
    """n overwrites (prefill: each key once) over 8 connections; returns the 2xx count."""
    u = urllib.parse.urlparse(url)
    ok = [0] * 8

    def worker(i):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        mine = list(range(i, keys, 8))
        todo = mine if prefill else [mine[j % len(mine)] for j in range(n // 8)]
        for j, k in enumerate(todo):
            doc = json.dumps({"like_count": j, "view_count": 3 * j, "pad": "x" * 980})
            c.request("POST", "/write?key=bgcost%d&strategy=replication" % k, doc,
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            ok[i] += r.status // 100 == 2

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(ok)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cluster_dir")
    ap.add_argument("--writes", type=int, default=2000)
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--idle", type=float, help="measure SECONDS of an idle cluster instead")
    ap.add_argument("--sweep-timeout", type=float, default=300)
    a = ap.parse_args()
    c = Cluster(a.cluster_dir)
    runs = []
    if not a.idle:
        write_all(c.info["url"], a.keys, 0, prefill=True)
    for run in range(a.runs):
        before, t0 = c.snapshot(), time.time()
        write_s = 0.0
        if a.idle:
            time.sleep(a.idle)
            div = time.time() - t0
        else:
            div = write_all(c.info["url"], a.keys, a.writes, prefill=False)
            write_s = time.time() - t0
            deadline = time.time() + a.sweep_timeout
            while c.retire_records() and time.time() < deadline:
                time.sleep(0.5)
        after = c.snapshot()
        d = {k: (after[k] - before.get(k, 0)) / max(div, 1) for k in after}
        runs.append(d)
        print(json.dumps({"run": run, "per": "second" if a.idle else "write", "n": div,
                          "seconds": round(time.time() - t0, 1), "load": os.getloadavg()[0],
                          "writes_per_s": round(div / write_s, 1) if write_s else None,
                          **{k: round(v, 4) for k, v in sorted(d.items()) if v}}), flush=True)
    print("| per %s (median of %d) | value |" % ("second" if a.idle else "write", len(runs)))
    print("|---|---|")
    for k in sorted({k for r in runs for k in r}):
        xs = sorted(r.get(k, 0.0) for r in runs)
        if xs[-1]:
            print("| %s | %.3f |" % (k, xs[len(xs) // 2]))


if __name__ == "__main__":
    main()

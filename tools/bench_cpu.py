#!/usr/bin/python3
"""bench_cpu.py - CPU per operation by role for the small-object workloads (docs/benchmarks.md).

Starts a cluster with `hybridstore cluster`'s defaults (through HsCluster: one etcd, 6 nodes,
3 gateways behind nginx, 2 healers, fsync always) in a temp dir, or uses one already running
(--cluster-dir), then runs `hybridstore bench --cluster-dir DIR --repeat N` for each workload:

    1 KiB replicated overwrite, 1 KiB field_hybrid write, 1 KiB pure hot update,
    1 KiB replicated read, 1 MiB replicated write, 1 MiB replicated read

and prints one markdown table row per workload with the medians of the N runs: ops/s, p50 and
p99 latency, and CPU ms per operation of etcd, the nodes, gateways, healers, nginx (master and
workers) and their total. The JSON lines of every run follow the table.

    /usr/bin/python3 tools/bench_cpu.py BUILD_DIR [--cluster-dir DIR] [--repeat 3]
                                         [--duration 5s] [--concurrency 8] [--only NAME,...]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

ROLES = ["etcd", "node", "gateway", "healer", "nginx", "total"]
WORKLOADS = [
    ("1k-overwrite", ["--strategy", "replication", "--size", "1KiB", "--mode", "write",
                      "--prefill"]),
    ("1k-hybrid-write", ["--strategy", "field_hybrid", "--size", "1KiB", "--mode", "write",
                         "--prefill"]),
    ("1k-hot-update", ["--size", "1KiB", "--mode", "hot-update"]),
    ("1k-read", ["--strategy", "replication", "--size", "1KiB", "--mode", "read"]),
    ("1m-write", ["--strategy", "replication", "--size", "1MiB", "--mode", "write",
                  "--prefill"]),
    ("1m-read", ["--strategy", "replication", "--size", "1MiB", "--mode", "read"]),
]


def run(hs_bin, cluster_dir, args, a):
    cmd = [hs_bin, "bench", "--cluster-dir", cluster_dir, "--repeat", str(a.repeat),
           "--concurrency", a.concurrency, "--duration", a.duration, "--keys", str(a.keys),
           "--api", "ref", *args]
    r = subprocess.run(cmd, capture_output=True, timeout=3600)
    lines = [json.loads(x) for x in r.stdout.decode().splitlines() if x.startswith("{")]
    if r.returncode != 0 or not lines:
        return None, lines, r.stderr.decode(errors="replace").strip()[-300:]
    return lines[-1], lines, ""


def row(name, m):
    cpu = m["cpu_ms_per_op"]
    return "| %s | %.0f | %.2f | %.2f | %s |" % (
        name, m["ops_per_s"], m["p50_ms"], m["p99_ms"],
        " | ".join("%.3f" % cpu[r] for r in ROLES))


def bench_all(hs_bin, cluster_dir, a):
    print("| workload | ops/s | p50 ms | p99 ms | %s |" %
          " | ".join("%s ms/op" % r for r in ROLES))
    print("|---|---|---|---|%s" % ("---|" * len(ROLES)))
    every = []
    bad = 0
    for name, args in WORKLOADS:
        if a.only and name not in a.only.split(","):
            continue
        med, lines, err = run(hs_bin, cluster_dir, args, a)
        every += lines
        if med is None or med.get("errors"):
            bad += 1
        if med is None:
            print("| %s | ERROR %s |" % (name, err), flush=True)
        else:
            print(row(name, med), flush=True)
    print("# medians of %d runs of %s at concurrency %s; load average after: %.2f %.2f %.2f; %s" %
          (a.repeat, a.duration, a.concurrency, *os.getloadavg(),
           time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())))
    for x in every:
        print(json.dumps(x))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build_dir")
    ap.add_argument("--cluster-dir", help="a running cluster's dir (default: start one)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--concurrency", default="8")
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--only", help="comma-separated workload names: " +
                    ",".join(n for n, _ in WORKLOADS))
    a = ap.parse_args()
    build = os.path.abspath(a.build_dir)
    hs_bin = os.path.join(build, "hybridstore")
    print("# load average before: %.2f %.2f %.2f" % os.getloadavg())
    if a.cluster_dir:
        return bench_all(hs_bin, a.cluster_dir, a)
    os.environ["HS_BUILD_DIR"] = build
    from cluster import HsCluster  # noqa: E402 (needs HS_BUILD_DIR first)
    with tempfile.TemporaryDirectory(prefix="hs-benchcpu-") as tmp:
        c = HsCluster(tmp, nodes=6, gateways=3, healers=2, fsync="always")
        c.start()
        try:
            print("# cluster: %s (6 nodes, 3 gateways behind nginx, 2 healers, fsync always)" %
                  c.url)
            return bench_all(hs_bin, tmp, a)
        finally:
            c.stop()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""bench_matrix.py - the standard gateway benchmark matrix (docs/benchmarks.md).

Starts a local cluster in a temp dir with `hybridstore cluster` (through HsCluster from
tests/integration/cluster.py: etcd, 6 nodes, 2 gateways behind nginx, fsync on, healers when
the binary has them), then runs `hybridstore bench` for every cell:

    strategies {replication, ec, field_hybrid} x sizes {1 KiB, 100 KiB, 1 MiB} x {write, read}
    + hot-update (reference API) and patch (native PATCH) of documents with a 1 MiB cold part

at concurrency 8 for ~5 s per cell, and prints a table, one JSON line per cell and the machine's
load average before and after (a busy machine makes every number smaller).

    /usr/bin/python3 tools/bench_matrix.py BUILD_DIR [--duration 5s] [--concurrency 8]
                                            [--api ref|v1] [--direct] [--quick]
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

STRATEGIES = ["replication", "ec", "field_hybrid"]
SIZES = [("1KiB", 1024), ("100KiB", 100 * 1024), ("1MiB", 1024 * 1024)]


def has_subcommand(hs_bin, name):
    r = subprocess.run([hs_bin, name, "--help"], capture_output=True, timeout=30)
    return r.returncode == 0


def run_cell(hs_bin, url, args, extra):
    cmd = [hs_bin, "bench", "--url", url, *extra, *args]
    r = subprocess.run(cmd, capture_output=True, timeout=600)
    if r.returncode != 0 or not r.stdout.strip():
        return {"error": r.stderr.decode(errors="replace").strip()[-300:] or
                "exit %d" % r.returncode, "args": " ".join(args)}
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def cells(quick):
    sizes = SIZES[:1] if quick else SIZES
    for strategy in STRATEGIES:
        for size_name, _ in sizes:
            for mode in ("write", "read"):
                yield ["--strategy", strategy, "--size", size_name, "--mode", mode]
    cold = "1KiB" if quick else "1MiB"
    yield ["--mode", "hot-update", "--size", cold, "--api", "ref"]
    yield ["--mode", "patch", "--size", cold, "--api", "v1"]


def fmt_row(res):
    if "error" in res:
        return "%-44s ERROR %s" % (res["args"], res["error"])
    name = "%s %s %s (%s)" % (res["mode"], res["strategy"], res["size"], res["api"])
    return "%-44s %9.1f %9.2f %9.2f %9.2f %9.2f %7d" % (
        name, res["ops_per_s"], res["mb_per_s"], res["p50_ms"], res["p99_ms"], res["p999_ms"],
        res["errors"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build_dir")
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--concurrency", default="8")
    ap.add_argument("--api", default="ref", choices=["ref", "v1"],
                    help="API of the write/read cells (hot-update is ref, patch v1)")
    ap.add_argument("--direct", action="store_true",
                    help="talk to one gateway instead of nginx in front of both")
    ap.add_argument("--quick", action="store_true", help="1 KiB cells only (smoke run)")
    a = ap.parse_args()
    build = os.path.abspath(a.build_dir)
    os.environ["HS_BUILD_DIR"] = build
    from cluster import HsCluster  # noqa: E402 (needs HS_BUILD_DIR first)
    hs_bin = os.path.join(build, "hybridstore")
    healers = 1 if has_subcommand(hs_bin, "healer") else 0
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="hs-bench-") as tmp:
        c = HsCluster(tmp, nodes=6, gateways=2, healers=healers, fsync="always")
        c.start()
        try:
            url = c.processes("gateway")[0]["url"] if a.direct else c.url
            print("# cluster: 6 nodes, 2 gateways%s, %d healer(s), fsync always; target %s" %
                  ("" if a.direct else " behind nginx", healers, url))
            print("# concurrency %s, %s per cell; load average before: %.2f %.2f %.2f" %
                  (a.concurrency, a.duration, *load_before))
            print("%-44s %9s %9s %9s %9s %9s %7s" % ("cell", "ops/s", "MB/s", "p50 ms",
                                                   "p99 ms", "p99.9 ms", "errors"))
            results = []
            for args in cells(a.quick):
                if "--api" not in args:
                    args = args + ["--api", a.api]
                extra = ["--concurrency", a.concurrency, "--duration", a.duration,
                         "--keys", "200"]
                res = run_cell(hs_bin, url, args, extra)
                results.append(res)
                print(fmt_row(res), flush=True)
            print("# load average after: %.2f %.2f %.2f; %s" %
                  (*os.getloadavg(), time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())))
            for res in results:
                print(json.dumps(res))
        finally:
            c.stop()
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

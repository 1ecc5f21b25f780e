#!/usr/bin/python3
"""Storage-node benchmark: starts a real etcd and one `hybridstore node --fsync always` on free
loopback ports in a temp dir, runs `hybridstore bench node` against it (PUT then GET, 4 KiB and
1 MiB), prints its JSON lines, and stops both processes by PID.

usage: tools/bench_node.py <build dir> [--seconds N] [--concurrency C] [--fsync always|never]
                           [--threads T] [--size BYTES]
(`make bench` runs it with the absolute build dir.)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_ticks(pid):
    """utime + stime of a process (all its threads), in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build_dir")
    ap.add_argument("--seconds", default="5")
    ap.add_argument("--concurrency", default="8")
    ap.add_argument("--fsync", default="always", choices=["always", "never"])
    ap.add_argument("--threads", default="0", help="node --threads (0 = CPUs)")
    ap.add_argument("--size", default="0", help="bench --size (0 = 4KiB and 1MiB)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = ap.parse_args()
    os.environ["HS_BUILD_DIR"] = os.path.abspath(args.build_dir)
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
    from harness import HS_BIN, Etcd, Node  # noqa: E402 - needs HS_BUILD_DIR first

    work = tempfile.mkdtemp(prefix="hs-bench-node-")
    etcd = node = None
    rc = 1
    try:
        etcd = Etcd(work)
        node = Node(work, etcd=etcd.endpoint, secret="bench-secret",
                    extra=["--fsync", args.fsync, "--threads", args.threads,
                           "--log-level", "warn"])
        print(f"# node {node.url} fsync={args.fsync} threads={args.threads} "
              f"data={node.data_dir} etcd={etcd.endpoint}", file=sys.stderr)
        bench = subprocess.Popen([HS_BIN, "bench", "node", "--url", node.url, "--secret",
                                  "bench-secret", "--seconds", args.seconds, "--concurrency",
                                  args.concurrency, "--size", args.size],
                                 stdout=subprocess.PIPE, text=True)
        before = cpu_ticks(node.proc.pid)
        for line in bench.stdout:
            after = cpu_ticks(node.proc.pid)
            try:
                res = json.loads(line)
                ops = max(res.get("ops", 0), 1)
                res["node_cpu_ms_per_op"] = round(
                    (after - before) * 1000.0 / os.sysconf("SC_CLK_TCK") / ops, 4)
                line = json.dumps(res)
            except ValueError:
                pass
            print(line.strip(), flush=True)
            before = cpu_ticks(node.proc.pid)  # the next phase starts now
        rc = bench.wait()
    finally:
        if node:
            node.stop()
        if etcd:
            etcd.stop()
        if args.keep or rc != 0:
            print(f"# logs kept in {work}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", "--", work], check=False)
    return rc


if __name__ == "__main__":
    sys.exit(main())

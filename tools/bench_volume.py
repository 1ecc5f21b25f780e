#!/usr/bin/python3
"""Volume store measurements: space after an overwrite-heavy run with and without compaction,
and the start-up scan time and memory with many small blobs. Starts one `hybridstore node
--small-blob-store volume` (no etcd) per phase on a free loopback port in a temp dir and stops
it by PID.

usage: tools/bench_volume.py <build dir> [--phase overwrite|scan|all] [--keys K] [--rounds R]
                             [--blobs N] [--size BYTES] [--concurrency C]

overwrite: K keys, R rounds; each round writes every key under a new blob id and deletes the
  previous one (what the gateway's overwrite does to a node), --fsync always, 4 MiB volumes.
  Runs with compaction off (--compact-interval 0) and on (1 s, 50 %), alternating, and prints
  per mode the volume bytes, the live bytes and the node's CPU per operation (PUT or DELETE).
scan: N blobs of --size bytes written straight into volume files in the needle format of
  include/hs/blob.h (CRC32C by ISA-L's crc32_iscsi through ctypes; HTTP would take minutes at
  this box's rates; the node's scan checks every CRC, so a wrong needle would not be counted),
  then the node started 4 times (cold, warm, cold, warm: the volumes dropped from the
  page cache with posix_fadvise before the cold ones): the blob store's own scan_ms (log line blob_store_opened), the
  time to health, the blob count it reports, and VmRSS after start against an empty node's.
"""
import argparse
import concurrent.futures
import ctypes
import struct
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run_parallel(node, jobs, concurrency):
    """jobs: list of (method, blob_id, data). Each worker thread keeps one session."""
    import threading
    local = threading.local()

    def one(job):
        if not hasattr(local, "s"):
            local.s = node.session()
        method, blob_id, data = job
        if method == "PUT":
            r = local.s.put(node.blob_url(blob_id), data=data, timeout=60)
            assert r.status_code == 201, r.text
        else:
            r = local.s.delete(node.blob_url(blob_id), timeout=60)
            assert r.status_code == 204, r.text

    with concurrent.futures.ThreadPoolExecutor(concurrency) as ex:
        for _ in ex.map(one, jobs):
            pass


def overwrite(Node, work, args, compaction):
    extra = ["--small-blob-store", "volume", "--volume-size", "4MiB", "--log-level", "warn",
             "--threads", "16", "--scrub-interval", "0"]
    extra += ["--compact-interval", "1s", "--compact-dead-percent", "50"] if compaction else \
        ["--compact-interval", "0"]
    node = Node(work, name="ow-%s-%d" % ("on" if compaction else "off", time.time_ns()),
                extra=extra)
    try:
        payload = os.urandom(args.size)
        before = cpu_ticks(node.proc.pid)
        t0 = time.monotonic()
        ops = 0
        for r in range(args.rounds):
            jobs = []
            for k in range(args.keys):
                jobs.append(("PUT", "%04x.%02x" % (k, r), payload))
                if r > 0:
                    jobs.append(("DELETE", "%04x.%02x" % (k, r - 1), None))
            run_parallel(node, jobs, args.concurrency)
            ops += len(jobs)
        secs = time.monotonic() - t0
        cpu_ms = (cpu_ticks(node.proc.pid) - before) * 1000.0 / os.sysconf("SC_CLK_TCK")
        st = node.session().get(node.url + "/v1/stats", timeout=30).json()
        return {"mode": "compaction-on" if compaction else "compaction-off", "ops": ops,
                "seconds": round(secs, 1), "node_cpu_ms_per_op": round(cpu_ms / ops, 4),
                "live_payload_bytes": st["payload_bytes"], **st["volumes"]}
    finally:
        node.stop()


_ISAL = ctypes.CDLL("libisal.so.2")
_ISAL.crc32_iscsi.restype = ctypes.c_uint32
_ISAL.crc32_iscsi.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]


def crc32c(data):
    return ~_ISAL.crc32_iscsi(data, len(data), 0xFFFFFFFF) & 0xFFFFFFFF


def needle(blob_id, payload):
    """A needle, format v1 of include/hs/blob.h, padded to 8 bytes."""
    bid = blob_id.encode()
    head = b"HSN1" + struct.pack("<HHIIq", 0, len(bid), len(payload), crc32c(payload),
                                 int(time.time() * 1000)) + bid
    out = head + struct.pack("<I", crc32c(head)) + payload
    return out + b"\0" * (-len(out) % 8)


def fill_volumes(data_dir, n, size, volume_bytes=1 << 30):
    vdir = os.path.join(data_dir, "volumes")
    os.makedirs(vdir, exist_ok=True)
    vol, f, written = 1, None, 0
    payload = os.urandom(size)
    for i in range(n):
        nd = needle("5ca%06x" % i, payload)
        if f is None or written + len(nd) > volume_bytes:
            if f:
                f.close()
                vol += 1
            f, written = open(os.path.join(vdir, "%08d.vol" % vol), "wb"), 0
        f.write(nd)
        written += len(nd)
    f.close()


def scan(Node, work, args):
    extra = ["--small-blob-store", "volume", "--log-level", "info",
             "--threads", "16", "--scrub-interval", "0", "--compact-interval", "0"]
    empty = Node(work, name="empty", extra=extra)
    time.sleep(1)
    empty_rss = rss_kib(empty.proc.pid)
    empty.stop()
    node = Node(work, name="scan", extra=extra, wait=False)
    try:
        node.stop()
        t0 = time.monotonic()
        fill_volumes(node.data_dir, args.blobs, args.size)
        fill_s = time.monotonic() - t0
        subprocess.run(["sync"], check=False)
        results = []
        for i in range(4):
            cold = i % 2 == 0  # the volumes dropped from the page cache (this file only)
            if cold:
                vdir = os.path.join(node.data_dir, "volumes")
                for name in os.listdir(vdir):
                    fd = os.open(os.path.join(vdir, name), os.O_RDONLY)
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    os.close(fd)
            t0 = time.monotonic()
            node.start()
            to_health = time.monotonic() - t0
            time.sleep(0.5)
            rss = rss_kib(node.proc.pid)
            log = node.proc.read_log()
            scan_ms = [int(m) for m in re.findall(r"evt=blob_store_opened .*scan_ms=(\d+)", log)]
            blobs = node.session().get(node.url + "/v1/stats", timeout=30).json()["blobs"]
            assert blobs == args.blobs, blobs
            results.append({"cache": "cold" if cold else "warm", "scan_ms": scan_ms[-1], "start_to_health_s": round(to_health, 2),
                            "rss_kib": rss, "index_kib": rss - empty_rss})
            node.stop()
        vol_bytes = sum(os.path.getsize(os.path.join(node.data_dir, "volumes", f))
                        for f in os.listdir(os.path.join(node.data_dir, "volumes")))
        return {"blobs": args.blobs, "size": args.size, "fill_s": round(fill_s, 1),
                "volume_bytes": vol_bytes, "empty_rss_kib": empty_rss, "restarts": results}
    finally:
        node.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build_dir")
    ap.add_argument("--phase", default="all", choices=["overwrite", "scan", "all"])
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=1, help="overwrite: off/on pairs")
    ap.add_argument("--blobs", type=int, default=100000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    os.environ["HS_BUILD_DIR"] = os.path.abspath(args.build_dir)
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
    from harness import Node  # noqa: E402 - needs HS_BUILD_DIR first

    work = tempfile.mkdtemp(prefix="hs-bench-volume-")
    try:
        if args.phase in ("overwrite", "all"):
            for _ in range(args.repeat):
                for compaction in (False, True):
                    print(json.dumps(overwrite(Node, work, args, compaction)), flush=True)
        if args.phase in ("scan", "all"):
            print(json.dumps(scan(Node, work, args)), flush=True)
    finally:
        subprocess.run(["rm", "-rf", "--", work], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

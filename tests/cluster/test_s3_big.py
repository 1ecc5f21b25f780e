"""A 5 GiB object through S3, opt-in (HS_BIG_TESTS=1; it needs about 20 GB of disk and several
minutes, so `make test` skips it): uploaded by `aws s3 cp` (multipart) and by one boto3
put_object of a file body (a single PUT of exactly 5 GiB, S3's limit), each read back through
S3 with the MD5 computed while streaming, with the gateway's peak memory (VmHWM) printed after
every step and checked to stay bounded. Nodes run with --fsync never: the point is the
gateway's streaming, not the disks. Run:
  HS_BIG_TESTS=1 HS_BUILD_DIR=$PWD/build /usr/bin/python3 -m pytest -s -q -p no:cacheprovider \
      tests/cluster/test_s3_big.py"""
import hashlib
import os
import shutil
import time

import boto3
import botocore.config
import pytest

from s3kit import aws, s3_info, write_random

from cluster import HsCluster

GIB = 1 << 30
SIZE = 5 * GIB
DISK_NEEDED = 20 * GIB  # the source file, two EC copies (k+m over k) and slack
HWM_LIMIT = 1 * GIB     # "bounded": far below the object; measured values are in the output

pytestmark = pytest.mark.skipif(os.environ.get("HS_BIG_TESTS") != "1",
                                reason="5 GiB round trips: set HS_BIG_TESTS=1")


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("s3big")
    free = shutil.disk_usage(str(d)).free
    if free < DISK_NEEDED:
        pytest.skip(f"needs {DISK_NEEDED >> 30} GiB free under {d}, has {free >> 30} GiB")
    c = HsCluster(str(d / "c"), nodes=6, gateways=1, healers=0, fsync="never")
    c.start()
    src = d / "five.bin"
    t0 = time.monotonic()
    md5 = write_random(src, SIZE, seed=55)
    print(f"\nsource file: {SIZE} bytes in {time.monotonic() - t0:.0f}s, md5 {md5}")
    yield c, d, src, md5
    c.stop()


def gateway_pid(c):
    return [p["pid"] for p in c.info["processes"] if p["role"] == "gateway"][0]


def client(c):
    info = s3_info(c)
    return boto3.client("s3", endpoint_url=info["endpoint"], region_name=info["region"],
                        aws_access_key_id=info["access_key"],
                        aws_secret_access_key=info["secret_key"],
                        config=botocore.config.Config(retries={"max_attempts": 1},
                                                      read_timeout=1800, connect_timeout=10))


def streamed_md5(s3, bucket, key):
    """MD5 and length of the object, read through S3 in 8 MiB pieces (nothing kept)."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    h, n = hashlib.md5(), 0
    for chunk in iter(lambda: body.read(8 << 20), b""):
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


def step(what, c, fn):
    t0 = time.monotonic()
    out = fn()
    secs = time.monotonic() - t0
    hwm = vm_hwm_kb(gateway_pid(c))
    print(f"{what}: {secs:.1f}s ({SIZE / secs / 1e6:.0f} MB/s), gateway VmHWM {hwm / 1024:.0f} MiB")
    assert hwm * 1024 < HWM_LIMIT, f"gateway VmHWM {hwm} kB after {what}"
    return out


def test_five_gib_multipart_with_aws_cp(big):
    c, d, src, md5 = big
    home = d / "home"
    print(f"gateway VmHWM at start {vm_hwm_kb(gateway_pid(c)) / 1024:.0f} MiB")
    aws(c, home, "s3", "mb", "s3://big")
    step("aws s3 cp (multipart) up", c, lambda: aws(
        c, home, "s3", "cp", "--only-show-errors", "--storage-class", "STANDARD_IA", str(src),
        "s3://big/five-mp", timeout=3600))
    s3 = client(c)
    head = s3.head_object(Bucket="big", Key="five-mp")
    assert head["ContentLength"] == SIZE and head["ETag"].endswith('-640"')  # 8 MiB parts
    got, n = step("GET (multipart object) streamed md5", c,
                  lambda: streamed_md5(s3, "big", "five-mp"))
    assert (got, n) == (md5, SIZE)
    s3.delete_object(Bucket="big", Key="five-mp")


def test_five_gib_single_put(big):
    c, d, src, md5 = big
    s3 = client(c)
    try:
        s3.create_bucket(Bucket="big")
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass

    def put():
        with open(src, "rb") as f:
            return s3.put_object(Bucket="big", Key="five-put", Body=f,
                                 StorageClass="STANDARD_IA")
    res = step("boto3 put_object (one 5 GiB PUT, signed SHA-256)", c, put)
    assert res["ETag"] == f'"{md5}"'
    got, n = step("GET (single-PUT object) streamed md5", c,
                  lambda: streamed_md5(s3, "big", "five-put"))
    assert (got, n) == (md5, SIZE)
    s3.delete_object(Bucket="big", Key="five-put")

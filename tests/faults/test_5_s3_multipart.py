"""Scenario 9: a gateway SIGKILLed mid-multipart and mid-Complete, at exact points (build-time
fault points armed with HS_FAULT in one extra gateway's environment only; the launcher's
gateway, behind nginx, is the healthy one the client falls back to):

- mid-UploadPart: `gateway.before_commit` fires after the part's blobs are stored, before the
  part record commits: the part is missing, the upload stays OPEN, the part is uploaded again
  and the upload completes;
- mid-Complete, `s3.complete.before_commit`: the old object stays, the upload is still OPEN and
  can be completed, or aborted (then the old object stays for good);
- mid-Complete, `s3.complete.after_commit`: the new object is there, a repeated Complete
  answers it (S3 clients retry), the part records are retired by the healer's upload pass.

In every case no orphan blob is left once the healer has passed (retire grace 2 s, GC grace 0 s,
abandoned uploads are not involved: each upload ends by Complete or Abort)."""
import json
import os
import random
import socket
import sys

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

import faultlib as fl

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from writekit import ROOT, assert_no_orphans  # noqa: E402

ENV = {"HS_HEALER_GC_GRACE": "0s", "HS_GATEWAY_S3_MIN_PART_SIZE": "100"}
BUCKET = "kill"
PART = 70_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def env(tmp_path_factory, hs_bin):
    c = fl.start_cluster(tmp_path_factory.mktemp("faults-s3"), env=ENV, nodes=6, gateways=1,
                         healers=1)
    info = c.info["s3"]
    st = type("State", (), {})()
    st.c, st.info, st.procs = c, info, []
    st.s3 = client(info, info["endpoint"])
    st.s3.create_bucket(Bucket=BUCKET)
    yield st
    for p in st.procs:
        p.stop()
    c.stop()


def client(info, endpoint):
    return boto3.client("s3", endpoint_url=endpoint, region_name=info["region"],
                        aws_access_key_id=info["access_key"],
                        aws_secret_access_key=info["secret_key"],
                        config=botocore.config.Config(retries={"max_attempts": 1},
                                                      read_timeout=30, connect_timeout=5))


def fault_gateway(st, point):
    """An extra gateway with S3 on a free port whose HS_FAULT kills it at point; its client."""
    port = free_port()
    proc, _ = fl.start_gateway(st.c, f"gw-{point}", env={"HS_FAULT": point},
                               extra=("--s3-port", str(port)))
    st.procs.append(proc)
    return proc, client(st.info, f"http://127.0.0.1:{port}")


def killed(proc, call):
    """call() against the fault gateway fails because the gateway died at the fault point."""
    with pytest.raises(Exception):  # noqa: B017 - a transport error, whatever botocore names it
        call()
    fl.wait_until(lambda: not proc.alive(), timeout=20, what="the fault gateway to die")


def body(seed, n=PART):
    return random.Random(seed).randbytes(n)


def uploads(c):
    return {json.loads(v)["id"]: json.loads(v) for v in c.etcd_range(ROOT + "upload/").values()}


def part_records(c, upload_id):
    return c.etcd_range(ROOT + "upart/" + upload_id + "/")


def start_upload(s3, key, n_parts):
    uid = s3.create_multipart_upload(Bucket=BUCKET, Key=key,
                                     StorageClass="REDUCED_REDUNDANCY")["UploadId"]
    done = []
    for n in range(1, n_parts + 1):
        r = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=n,
                           Body=body(f"{key}-{n}"))
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    return uid, done


def read(s3, key):
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def no_orphans_after_healer(st, uid):
    fl.wait_until(lambda: uid not in uploads(st.c) and not part_records(st.c, uid), timeout=60,
                  interval=0.5, what="the upload's records gone")

    def clean():
        try:
            assert_no_orphans(st.c)
            return True
        except AssertionError:
            return False
    fl.wait_until(clean, timeout=60, interval=1, what="no orphan blob after the healer's pass")


def test_9a_gateway_killed_mid_upload_part(env):
    st, s3, key = env, env.s3, "mid-part"
    uid, done = start_upload(s3, key, 1)
    proc, bad = fault_gateway(st, "gateway.before_commit")
    killed(proc, lambda: bad.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=2,
                                         Body=body(f"{key}-2")))
    assert uploads(st.c)[uid]["state"] == "OPEN"
    listed = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=uid)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1]  # the killed part never committed
    r = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=2, Body=body(f"{key}-2"))
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={
        "Parts": done + [{"PartNumber": 2, "ETag": r["ETag"]}]})
    assert read(s3, key) == body(f"{key}-1") + body(f"{key}-2")
    no_orphans_after_healer(st, uid)


@pytest.mark.parametrize("then", ["complete", "abort"])
def test_9b_gateway_killed_before_the_complete_commit(env, then):
    st, s3, key = env, env.s3, f"before-commit-{then}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"OLD VERSION")
    uid, done = start_upload(s3, key, 3)
    proc, bad = fault_gateway(st, "s3.complete.before_commit")
    killed(proc, lambda: bad.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={"Parts": done}))
    assert read(s3, key) == b"OLD VERSION"
    assert uploads(st.c)[uid]["state"] == "OPEN"
    whole = b"".join(body(f"{key}-{n}") for n in (1, 2, 3))
    if then == "complete":  # resumable
        s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                     MultipartUpload={"Parts": done})
        assert read(s3, key) == whole
    else:  # abortable
        s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid)
        assert read(s3, key) == b"OLD VERSION"
    no_orphans_after_healer(st, uid)
    assert read(s3, key) == (whole if then == "complete" else b"OLD VERSION")


def test_9c_gateway_killed_after_the_complete_commit(env):
    st, s3, key = env, env.s3, "after-commit"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"OLD VERSION")
    uid, done = start_upload(s3, key, 3)
    proc, bad = fault_gateway(st, "s3.complete.after_commit")
    killed(proc, lambda: bad.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={"Parts": done}))
    whole = b"".join(body(f"{key}-{n}") for n in (1, 2, 3))
    assert read(s3, key) == whole  # committed before the kill
    # the client's retry: answered from the COMPLETED record, or NoSuchUpload once it is gone
    try:
        r = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                         MultipartUpload={"Parts": done})
        assert r["ETag"].endswith('-3"')
    except ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchUpload"
    no_orphans_after_healer(st, uid)
    assert read(s3, key) == whole

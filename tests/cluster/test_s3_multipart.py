"""S3 multipart uploads (docs/s3.md "Multipart") driven by boto3 against a real cluster: the
whole life cycle, parts out of order and uploaded again, every error code, the multipart ETag,
per-part CRC32 checksums and the COMPOSITE checksum, UploadPartCopy with a range, ListParts and
ListMultipartUploads paging, Abort, 10 000 tiny parts (packed manifest under the etcd limit,
read back byte-exact, ranges across part boundaries), gateways SIGKILLed mid-part and
mid-Complete, and the healer's upload pass (abandoned uploads, no orphan blobs afterwards).

The main cluster runs one gateway (its own S3 listener, cluster.json's root key), a 100-byte
minimum part size, 64 KiB segments and a healer with short graces; the abandoned-upload test
starts a second small cluster whose healer abandons uploads after 8 s."""
import base64
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import os
import random
import signal
import subprocess
import threading
import time
import zlib

import pytest
import requests

from cluster import patched_environ, start_with_env
from harness import Proc, wait_until
from writekit import ROOT, all_blobs, qkey

boto3 = pytest.importorskip("boto3")
from botocore.auth import S3SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

MIN_PART = 100
BUCKET = "mpu"
KEYS = {}  # S3 endpoint -> (access key id, secret): cluster.json's root key


# ---- cluster and client ---------------------------------------------------------------------


def client(endpoint, timeout=60):
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[k]
    ak, sk = KEYS[endpoint]
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ak,
        aws_secret_access_key=sk,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                      read_timeout=timeout, connect_timeout=5, max_pool_connections=32))


class S3Cluster:
    def __init__(self, c, env):
        self.c, self.env = c, env
        self.endpoint = c.processes("gateway")[0]["s3_url"]  # the gateway itself, not nginx
        self.extra = []

    @property
    def s3(self):
        return client(self.endpoint)

    def gateway_url(self):
        return [p["url"] for p in self.c.processes("gateway")][0]

    def kill_gateway(self):
        """SIGKILLs the gateway: the launcher's, or the one this test restarted."""
        name = self.c.processes("gateway")[0]["name"]
        if self.extra and self.extra[-1].alive():
            self.extra[-1].signal(signal.SIGKILL)
            self.extra[-1].popen.wait(15)
        else:
            self.c.kill(name)
        return name

    def restart_gateway(self, name):
        p = self.c.proc(name)
        with patched_environ(self.env):
            proc = Proc(p["argv"], p["log"])
        self.extra.append(proc)
        wait_until(lambda: requests.get(p["url"] + "/health", timeout=2).status_code == 200,
                   timeout=30, what="gateway back")
        wait_until(lambda: self.s3.list_buckets() is not None, timeout=30, what="S3 back")

    def stop(self):
        for p in self.extra:
            p.stop()
        self.c.stop()


def start(tmp, env, **kw):
    c = start_with_env(tmp, env, **kw)
    c.wait_nodes_registered(timeout=40)
    sc = S3Cluster(c, env)
    KEYS[sc.endpoint] = (c.s3["access_key"], c.s3["secret_key"])
    wait_until(lambda: sc.s3.list_buckets() is not None, timeout=30, what="S3 listener and key")
    try:
        sc.s3.create_bucket(Bucket=BUCKET)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    return sc


@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    env = {"HS_GATEWAY_S3_MIN_PART_SIZE": str(MIN_PART), "HS_GATEWAY_SEGMENT_SIZE": "64KiB",
           "HS_HEALER_RETIRE_GRACE": "2s", "HS_HEALER_GC_GRACE": "3s",
           "HS_HEALER_GC_INTERVAL": "2s", "HS_HEALER_PASS_INTERVAL": "300ms",
           "HS_HEALER_WAL_OWNER_GRACE": "2s", "HS_HEALER_WAL_TIMEOUT": "20s",
           "HS_HEALER_UPLOAD_MAX_AGE": "1h"}
    sc = start(str(tmp_path_factory.mktemp("s3mpu")), env, nodes=6, gateways=1, healers=1)
    yield sc
    sc.stop()


# ---- etcd views -------------------------------------------------------------------------------


def uploads(c):
    """{upload id: record} of every upload record."""
    return {json.loads(v)["id"]: json.loads(v) for v in c.etcd_range(ROOT + "upload/").values()}


def part_records(c, upload_id=""):
    return {k: json.loads(v) for k, v in c.etcd_range(ROOT + "upart/" + upload_id).items()}


def unpack(part):
    """The segments of a part, spelled out: "segs", or the packed "nodes" + "segz" (format
    version 2; layout in src/meta/manifest_packed.c)."""
    if "segs" in part:
        return part["segs"]
    nodes, raw = part["nodes"], base64.b64decode(part["segz"])
    ec = "k" in part
    width = part["k"] + part["m"] if ec else part["replicas"]
    pos = [0]

    def take(n):
        b = raw[pos[0]:pos[0] + n]
        assert len(b) == n, "truncated segz"
        pos[0] += n
        return b

    def varint():
        v, shift = 0, 0
        while True:
            c = take(1)[0]
            v |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                return v

    segs, txn, nxt = [], None, 0
    while pos[0] < len(raw):
        f = take(1)[0]
        explicit, bpart, seg = f & 4, (f >> 3) & 3, None
        if not explicit:
            if f & 1:
                txn, nxt = take(16).hex(), 0
            seg = varint() if f & 2 else nxt
            nxt = seg + 1
        length = varint()
        crc = int.from_bytes(take(4), "little")
        blen = varint() if ec else length
        blobs = []
        for j in range(width):
            node = nodes[varint()]
            bcrc = int.from_bytes(take(4), "little") if ec else crc
            bid = take(varint()).decode() if explicit else f"{txn}.{bpart:x}.{seg:x}.{j:x}"
            blobs.append({"id": bid, "node": node, "len": blen, "crc": f"{bcrc:08x}"})
        segs.append({"len": length, "crc": f"{crc:08x}", "blobs": blobs})
    return segs


def part_blobs(part):
    return {(b["id"], b["node"]) for s in unpack(part) for b in s["blobs"]}


def manifest(c, key):
    v = c.etcd_range(ROOT + "meta/" + key).get(ROOT + "meta/" + key)
    return None if v is None else (json.loads(v), len(v))


def named_blobs(c):
    """Every (blob, node) a manifest, a retire record, a part record or a WAL record names."""
    out = set()
    for v in c.etcd_range(ROOT + "meta/").values():
        m = json.loads(v)
        for p in ("data", "hot", "cold"):
            if p in m:
                out |= part_blobs(m[p])
    for v in c.etcd_range(ROOT + "retire/").values():
        for s in json.loads(v)["sets"]:
            out |= {((s["txn"] + "." + rest) if s["txn"] else rest, node) for rest, node in s["blobs"]}
    for rec in part_records(c).values():
        out |= part_blobs(rec["data"])
    for v in c.etcd_range(ROOT + "txn/").values():
        rec = json.loads(v)
        out |= {(f"{rec['txn']}.{p['part']:x}.{seg:x}.{i:x}", rec["nodes"][i])
                for p in rec["parts"] for seg in range(p["segs"])
                for i in range(min(p["width"], len(rec["nodes"])))}
    return out


def wait_no_orphans(c, timeout=60):
    def clean():
        orphans = all_blobs(c) - named_blobs(c)
        return not orphans and not c.etcd_range(ROOT + "txn/")
    wait_until(clean, timeout=timeout, interval=0.5, what="no orphan blob and no WAL record")


# ---- helpers --------------------------------------------------------------------------------


def body(seed, n):
    return random.Random(seed).randbytes(n)


def md5(b):
    return hashlib.md5(b).hexdigest()


def multipart_etag(parts):
    return '"%s-%d"' % (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest(),
                        len(parts))


def crc32_b64(b):
    return base64.b64encode(zlib.crc32(b).to_bytes(4, "big")).decode()


def err_code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def upload(s3, key, parts, **kw):
    """Creates an upload and uploads parts {number: bytes}; returns (upload id, [part dicts])."""
    uid = s3.create_multipart_upload(Bucket=BUCKET, Key=key, **kw)["UploadId"]
    done = []
    for n, b in parts.items():
        r = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=n, Body=b)
        assert r["ETag"] == '"%s"' % md5(b)
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    return uid, sorted(done, key=lambda p: p["PartNumber"])


def get(s3, key, **kw):
    return s3.get_object(Bucket=BUCKET, Key=key, **kw)["Body"].read()


def native_put(sc, key, data):
    r = requests.put(f"{sc.gateway_url()}/v1/objects/{qkey(BUCKET + '/' + key)}", data=data,
                     headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert r.status_code in (200, 201), r.text


def native_get(sc, key, headers=None):
    return requests.get(f"{sc.gateway_url()}/v1/objects/{qkey(BUCKET + '/' + key)}",
                        headers=headers or {}, timeout=120)


def read_back(sc, key):
    """The object's bytes (S3 GetObject until the object handlers land: the native API)."""
    r = native_get(sc, key)
    assert r.status_code == 200, r.text
    return r.content


# ---- life cycle -------------------------------------------------------------------------------


def test_full_life_cycle_out_of_order(mc):
    s3 = mc.s3
    parts = {n: body(f"life{n}", 3000 + 17 * n) for n in (3, 1, 2)}  # uploaded 3, 1, 2
    uid, done = upload(s3, "life/obj", parts, ContentType="text/x-life",
                       Metadata={"color": "blue"}, CacheControl="max-age=60")
    listed = s3.list_parts(Bucket=BUCKET, Key="life/obj", UploadId=uid)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3]
    assert [p["Size"] for p in listed["Parts"]] == [len(parts[n]) for n in (1, 2, 3)]
    r = s3.complete_multipart_upload(Bucket=BUCKET, Key="life/obj", UploadId=uid,
                                     MultipartUpload={"Parts": done})
    whole = b"".join(parts[n] for n in (1, 2, 3))
    assert r["ETag"] == multipart_etag([parts[n] for n in (1, 2, 3)])
    m, _ = manifest(mc.c, BUCKET + "/life/obj")
    assert m["size"] == len(whole) and m["ctype"] == "text/x-life"
    assert m["etag"] == r["ETag"].strip('"')
    assert read_back(mc, "life/obj") == whole
    # the attributes given at Create are the object's
    h = s3.head_object(Bucket=BUCKET, Key="life/obj")
    assert h["ContentLength"] == len(whole) and h["ETag"] == r["ETag"]
    assert h["Metadata"] == {"color": "blue"} and h["CacheControl"] == "max-age=60"
    assert h["ContentType"] == "text/x-life"
    assert get(s3, "life/obj") == whole
    # the upload is gone (its part records became retire records), a repeat is NoSuchUpload
    wait_until(lambda: uid not in uploads(mc.c) and not part_records(mc.c, uid), timeout=20,
               what="upload records removed")
    with pytest.raises(ClientError) as e:
        s3.abort_multipart_upload(Bucket=BUCKET, Key="life/obj", UploadId=uid)
    assert err_code(e) == "NoSuchUpload"


def test_reuploaded_part_replaces_the_first(mc):
    s3 = mc.s3
    key = "reup"
    uid, _ = upload(s3, key, {1: body("r1a", 500), 2: body("r2", 200)})
    first = '"%s"' % md5(body("r1a", 500))
    second = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=1,
                            Body=body("r1b", 700))["ETag"]
    two = '"%s"' % md5(body("r2", 200))
    # the first upload of part 1 is gone: its ETag is an InvalidPart
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": two}]})
    assert err_code(e) == "InvalidPart"
    # part ETags unquoted are accepted too
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": second.strip('"')}, {"PartNumber": 2, "ETag": two}]})
    assert read_back(mc, key) == body("r1b", 700) + body("r2", 200)


def test_errors(mc):
    s3 = mc.s3
    key = "errs"
    uid, done = upload(s3, key, {1: body("e1", 50), 2: body("e2", 300), 3: body("e3", 300)})

    def complete(parts):
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                         MultipartUpload={"Parts": parts})
        return err_code(e)

    assert complete(done + [{"PartNumber": 9, "ETag": done[0]["ETag"]}]) == "InvalidPart"
    assert complete([done[1], done[0]]) == "InvalidPartOrder"
    assert complete([done[1], done[1]]) == "InvalidPartOrder"
    assert complete(done) == "EntityTooSmall"  # part 1 has 50 bytes, the minimum is 100
    # the last part may be small (here: none is)
    r = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                     MultipartUpload={"Parts": [done[1], done[2]]})
    assert r["ETag"] == multipart_etag([body("e2", 300), body("e3", 300)])
    bogus = "0" * 48
    for call in (lambda: s3.upload_part(Bucket=BUCKET, Key=key, UploadId=bogus, PartNumber=1,
                                        Body=b"x"),
                 lambda: s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=bogus),
                 lambda: s3.list_parts(Bucket=BUCKET, Key=key, UploadId="not-an-id"),
                 lambda: s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=bogus,
                                                      MultipartUpload={"Parts": done})):
        with pytest.raises(ClientError) as e:
            call()
        assert err_code(e) == "NoSuchUpload"
    uid2 = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid2, PartNumber=10001, Body=b"x")
    assert err_code(e) == "InvalidArgument"
    # a part whose Content-MD5 does not match is refused and changes nothing
    bad_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid2, PartNumber=1, Body=b"y" * 200,
                       ContentMD5=bad_md5)
    assert err_code(e) == "BadDigest"
    assert not part_records(mc.c, uid2)
    assert s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid2)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204


def test_crc32_per_part_and_composite(mc):
    s3 = mc.s3
    key = "crc"
    r = s3.create_multipart_upload(Bucket=BUCKET, Key=key, ChecksumAlgorithm="CRC32")
    uid = r["UploadId"]
    parts = [body(f"crc{n}", 1000 + n) for n in (1, 2)]
    done = []
    for n, b in enumerate(parts, 1):
        r = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=n, Body=b,
                           ChecksumAlgorithm="CRC32")
        assert r["ChecksumCRC32"] == crc32_b64(b)  # stored and echoed
        done.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    listed = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=uid)["Parts"]
    assert [p.get("ChecksumCRC32") for p in listed] == [crc32_b64(b) for b in parts]
    # a wrong per-part checksum at Complete is an InvalidPart
    wrong = [dict(done[0], ChecksumCRC32=crc32_b64(b"nope")), done[1]]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                     MultipartUpload={"Parts": wrong})
    assert err_code(e) == "InvalidPart"
    r = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                     MultipartUpload={"Parts": done})
    raw = b"".join(zlib.crc32(b).to_bytes(4, "big") for b in parts)
    assert r["ChecksumCRC32"] == crc32_b64(raw) + "-2"
    # stored with the object, returned when asked
    h = s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    assert h["ChecksumCRC32"] == crc32_b64(raw) + "-2"
    # a part whose checksum header does not match its body is refused
    uid2 = s3.create_multipart_upload(Bucket=BUCKET, Key=key, ChecksumAlgorithm="CRC32")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid2, PartNumber=1, Body=b"z" * 300,
                       ChecksumCRC32=crc32_b64(b"else"))
    assert err_code(e) == "BadDigest"
    s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid2)


def test_upload_part_copy_with_range(mc):
    s3 = mc.s3
    src = body("copysrc", 200_000)  # several 64 KiB segments
    native_put(mc, "copy/src", src)
    key = "copy/dst"
    uid = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    r1 = s3.upload_part_copy(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": BUCKET, "Key": "copy/src"},
                             CopySourceRange="bytes=1000-150999")
    assert r1["CopyPartResult"]["ETag"] == '"%s"' % md5(src[1000:151000])
    r2 = s3.upload_part_copy(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=2,
                             CopySource=f"{BUCKET}/copy/src")
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=3,
                            CopySource=f"{BUCKET}/copy/src", CopySourceRange="bytes=0-999999")
    assert err_code(e) == "InvalidRange"
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
    assert read_back(mc, key) == src[1000:151000] + src


def test_list_parts_paging(mc):
    s3 = mc.s3
    key = "paging"
    uid, _ = upload(s3, key, {n: body(f"pg{n}", 150) for n in range(1, 8)})
    seen, marker, pages = [], 0, 0
    while True:
        r = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=uid, MaxParts=3,
                          PartNumberMarker=marker)
        pages += 1
        seen += [p["PartNumber"] for p in r["Parts"]]
        if not r["IsTruncated"]:
            break
        assert r["NextPartNumberMarker"] == seen[-1]
        marker = r["NextPartNumberMarker"]
    assert seen == list(range(1, 8)) and pages == 3
    s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid)


def test_list_multipart_uploads(mc):
    s3 = mc.s3
    keys = ["lmu/a", "lmu/a", "lmu/a/b", "lmu/c/d", "lmu/c/e", "lmu/z"]
    ids = [s3.create_multipart_upload(Bucket=BUCKET, Key=k)["UploadId"] for k in keys]
    r = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="lmu/")
    got = [(u["Key"], u["UploadId"]) for u in r["Uploads"]]
    want = sorted(zip(keys, ids))  # by key, then by id (ids sort by creation time)
    assert got == want
    r = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="lmu/", Delimiter="/")
    assert [u["Key"] for u in r["Uploads"]] == ["lmu/a", "lmu/a", "lmu/z"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["lmu/a/", "lmu/c/"]
    # paging: max-uploads with key-marker and upload-id-marker
    seen, km, im = [], "", ""
    while True:
        r = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="lmu/", MaxUploads=2, KeyMarker=km,
                                      UploadIdMarker=im)
        seen += [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]
        if not r["IsTruncated"]:
            break
        km, im = r["NextKeyMarker"], r["NextUploadIdMarker"]
    assert seen == want
    r = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="lmu/", KeyMarker="lmu/a")
    assert [u["Key"] for u in r["Uploads"]] == ["lmu/a/b", "lmu/c/d", "lmu/c/e", "lmu/z"]
    for k, i in zip(keys, ids):
        s3.abort_multipart_upload(Bucket=BUCKET, Key=k, UploadId=i)
    assert not s3.list_multipart_uploads(Bucket=BUCKET, Prefix="lmu/").get("Uploads")


def test_abort_leaves_no_orphan(mc):
    s3 = mc.s3
    for strategy in ("REDUCED_REDUNDANCY", "STANDARD_IA"):  # replication, ec
        uid, _ = upload(s3, "abort/" + strategy, {n: body(f"ab{n}", 70_000) for n in (1, 2, 3)},
                        StorageClass=strategy)
        assert len(part_records(mc.c, uid)) == 3
        s3.abort_multipart_upload(Bucket=BUCKET, Key="abort/" + strategy, UploadId=uid)
        assert uid not in uploads(mc.c) and not part_records(mc.c, uid)
    wait_no_orphans(mc.c)


# ---- aws-chunked parts ------------------------------------------------------------------


EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class FixedPayloadAuth(S3SigV4Auth):
    """Signs with a given x-amz-content-sha256 value (a streaming mode)."""

    def __init__(self, creds, payload):
        super().__init__(creds, "s3", "us-east-1")
        self._payload = payload

    def payload(self, request):
        return self._payload


def chunked_part(endpoint, url, data, mode, trailer=None):
    """(headers, body) of an aws-chunked UploadPart in payload mode `mode` (signed chunks for
    STREAMING-AWS4-HMAC-SHA256-PAYLOAD, none for STREAMING-UNSIGNED-PAYLOAD-TRAILER)."""
    ak, sk = KEYS[endpoint]
    hdr = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    if trailer:
        hdr["x-amz-trailer"] = trailer[0]
    req = AWSRequest(method="PUT", url=url, headers=hdr)
    FixedPayloadAuth(Credentials(ak, sk), mode).add_auth(req)
    h = dict(req.headers.items())
    chunks = [data[:70_000], data[70_000:]]
    if mode == "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
        out = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n"
        if trailer:
            out += b"%s:%s\r\n" % (trailer[0].encode(), trailer[1].encode())
        return h, out + b"\r\n"
    date = h["X-Amz-Date"]
    scope = f"{date[:8]}/us-east-1/s3/aws4_request"
    key = ("AWS4" + sk).encode()
    for part in (date[:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    prev, out = h["Authorization"].rsplit("Signature=", 1)[1], b""
    for c in [c for c in chunks if c] + [b""]:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", date, scope, prev, EMPTY_SHA256,
                         hashlib.sha256(c).hexdigest()])
        prev = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out += b"%x;chunk-signature=%s\r\n%s" % (len(c), prev.encode(), c) + (b"\r\n" if c else b"")
    return h, out + b"\r\n"


def test_upload_part_aws_chunked(mc):
    s3 = mc.s3
    key = "chunked"
    uid = s3.create_multipart_upload(Bucket=BUCKET, Key=key, ChecksumAlgorithm="CRC32")["UploadId"]
    parts = [body("ch1", 150_000), body("ch2", 120_000)]
    done = []
    for n, (data, mode, trailer) in enumerate([
            (parts[0], "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", None),
            (parts[1], "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
             ("x-amz-checksum-crc32", crc32_b64(parts[1])))], 1):
        url = f"{mc.endpoint}/{BUCKET}/{key}?partNumber={n}&uploadId={uid}"
        h, framed = chunked_part(mc.endpoint, url, data, mode, trailer)
        r = requests.put(url, data=framed, headers=h, timeout=60)
        assert r.status_code == 200, r.text
        assert r.headers["ETag"] == '"%s"' % md5(data)
        # the upload's algorithm: computed when the part sent none, verified when it did
        assert r.headers["x-amz-checksum-crc32"] == crc32_b64(data)
        done.append({"PartNumber": n, "ETag": r.headers["ETag"]})
    # a trailer checksum that does not match the body: BadDigest, nothing stored
    url = f"{mc.endpoint}/{BUCKET}/{key}?partNumber=3&uploadId={uid}"
    h, framed = chunked_part(mc.endpoint, url, parts[0], "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                             ("x-amz-checksum-crc32", crc32_b64(b"other")))
    r = requests.put(url, data=framed, headers=h, timeout=60)
    assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text, r.text
    assert len(part_records(mc.c, uid)) == 2
    r = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                     MultipartUpload={"Parts": done})
    raw = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)
    assert r["ChecksumCRC32"] == crc32_b64(raw) + "-2"
    assert read_back(mc, key) == b"".join(parts)


# ---- real clients: aws-cli and s3cmd, multipart ---------------------------------------------


def tool_env(mc, home):
    ak, sk = KEYS[mc.endpoint]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": ak, "AWS_SECRET_ACCESS_KEY": sk,
                "AWS_DEFAULT_REGION": "us-east-1", "HOME": str(home),
                "AWS_CONFIG_FILE": str(home / "aws-config")})
    (home / "aws-config").write_text("[default]\ns3 =\n  multipart_threshold = 8MB\n"
                                     "  multipart_chunksize = 5MB\n")
    return env


def test_aws_cli_multipart_copy(mc, tmp_path):
    src = tmp_path / "big.bin"
    data = body("awscli", 13 * (1 << 20) + 12345)  # 3 parts of 5 MB
    src.write_bytes(data)
    env = tool_env(mc, tmp_path)
    run = lambda *a: subprocess.run(["/usr/bin/aws", "--endpoint-url", mc.endpoint, *a], env=env,  # noqa
                                    capture_output=True, text=True, timeout=300)
    r = run("s3", "cp", str(src), f"s3://{BUCKET}/tools/aws.bin")
    assert r.returncode == 0, r.stderr
    h = mc.s3.head_object(Bucket=BUCKET, Key="tools/aws.bin")
    assert h["ETag"].endswith('-3"'), h["ETag"]
    r = run("s3", "cp", f"s3://{BUCKET}/tools/aws.bin", str(tmp_path / "back.bin"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back.bin").read_bytes() == data
    # between buckets aws-cli copies with UploadPartCopy
    mc.s3.create_bucket(Bucket="mpu-copy")
    r = run("s3", "cp", f"s3://{BUCKET}/tools/aws.bin", "s3://mpu-copy/aws.bin")
    assert r.returncode == 0, r.stderr
    assert get(mc.s3, "tools/aws.bin") == data
    assert mc.s3.get_object(Bucket="mpu-copy", Key="aws.bin")["Body"].read() == data


def test_s3cmd_multipart_put(mc, tmp_path):
    ak, sk = KEYS[mc.endpoint]
    host = mc.endpoint.split("//")[1]
    cfg = tmp_path / "s3cfg"
    cfg.write_text(f"[default]\naccess_key = {ak}\nsecret_key = {sk}\nhost_base = {host}\n"
                   f"host_bucket = {host}\nuse_https = False\nsignature_v2 = False\n"
                   "bucket_location = us-east-1\n")
    src = tmp_path / "s3cmd.bin"
    data = body("s3cmd", 11 * (1 << 20) + 7)
    src.write_bytes(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    r = subprocess.run(["/usr/bin/s3cmd", "-c", str(cfg), "--multipart-chunk-size-mb=5", "put", str(src),
                        f"s3://{BUCKET}/tools/s3cmd.bin"], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert mc.s3.head_object(Bucket=BUCKET, Key="tools/s3cmd.bin")["ETag"].endswith('-3"')
    assert get(mc.s3, "tools/s3cmd.bin") == data


# ---- 10 000 parts ---------------------------------------------------------------------------


def upload_many(s3, key, n, size_of, workers=16, **kw):
    uid = s3.create_multipart_upload(Bucket=BUCKET, Key=key, **kw)["UploadId"]
    local = threading.local()

    def one(i):
        if not hasattr(local, "s3"):
            local.s3 = s3 if workers == 1 else client(s3.meta.endpoint_url)
        b = body(f"{key}-{i}", size_of(i))
        r = local.s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=i, Body=b)
        assert r["ETag"] == '"%s"' % md5(b)
        return {"PartNumber": i, "ETag": r["ETag"]}

    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        done = list(ex.map(one, range(1, n + 1)))
    return uid, done, b"".join(body(f"{key}-{i}", size_of(i)) for i in range(1, n + 1))


def test_ten_thousand_parts(mc):
    s3 = mc.s3
    key = "many/10000"
    size_of = lambda i: MIN_PART + (i * 7919) % 60  # noqa: E731 - 100..159 bytes
    t0 = time.monotonic()
    uid, done, whole = upload_many(s3, key, 10000, size_of, StorageClass="REDUCED_REDUNDANCY")
    t1 = time.monotonic()
    r = client(mc.endpoint, timeout=300).complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={"Parts": done})
    t2 = time.monotonic()
    assert r["ETag"].endswith('-10000"')
    m, encoded = manifest(mc.c, BUCKET + "/" + key)
    assert m["v"] == 2 and "segz" in m["data"] and m["size"] == len(whole)
    assert encoded < 1 << 20, encoded
    print(f"10000 parts: upload {t1 - t0:.1f}s, complete {t2 - t1:.1f}s, manifest {encoded} B")
    assert read_back(mc, key) == whole
    # ranges across part boundaries (parts are 100..159 bytes)
    rnd = random.Random(7)
    for _ in range(20):
        a = rnd.randrange(len(whole) - 2000)
        b = a + rnd.randrange(1, 2000)
        assert get(s3, key, Range=f"bytes={a}-{b}") == whole[a:b + 1]
    wait_until(lambda: uid not in uploads(mc.c), timeout=60, what="upload record removed")


def test_ec_packed_manifest_reads(mc):
    """An erasure-coded multipart object long enough for a packed segment list: whole and range
    reads across part and segment boundaries, and a part of several segments."""
    s3 = mc.s3
    key = "many/ec"
    size_of = lambda i: 70_000 if i == 5 else MIN_PART + i * 37  # noqa: E731 - part 5: 2 segments
    uid, done, whole = upload_many(s3, key, 40, size_of, workers=8, StorageClass="STANDARD_IA")
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                 MultipartUpload={"Parts": done})
    m, _ = manifest(mc.c, BUCKET + "/" + key)
    assert m["strategy"] == "ec" and m["v"] == 2 and "segz" in m["data"]
    segs = unpack(m["data"])
    assert len(segs) == 41 and all(len(sg["blobs"]) == 6 for sg in segs)
    assert get(s3, key) == whole
    rnd = random.Random(11)
    for _ in range(15):
        a = rnd.randrange(len(whole) - 1)
        b = min(len(whole) - 1, a + rnd.randrange(1, 90_000))
        assert get(s3, key, Range=f"bytes={a}-{b}") == whole[a:b + 1]


# ---- gateways killed mid-part and mid-Complete ----------------------------------------------


def signed_headers(endpoint, url, data, extra=None):
    req = AWSRequest(method="PUT", url=url, data=data, headers=dict(extra or {}))
    req.headers["Host"] = url.split("//")[1].split("/")[0]
    req.headers["x-amz-content-sha256"] = hashlib.sha256(data).hexdigest()
    ak, sk = KEYS[endpoint]
    S3SigV4Auth(Credentials(ak, sk), "s3", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def test_gateway_killed_mid_upload_part(mc):
    s3 = mc.s3
    key = "kill/part"
    uid, done = upload(s3, key, {1: body("kp1", 70_000)})
    data = body("kp2", 1 << 20)
    url = f"{mc.endpoint}/{BUCKET}/{key}?partNumber=2&uploadId={uid}"
    headers = signed_headers(mc.endpoint, url, data, {"Content-Length": str(len(data))})
    half = threading.Event()
    release = threading.Event()

    def send():
        """The part's first 300 KB (several segments: blobs stored, WAL record PENDING), then
        nothing until the gateway is dead."""
        host, port = mc.endpoint.split("//")[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            conn.putrequest("PUT", url.split(mc.endpoint)[1], skip_host=True,
                            skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders()
            conn.send(data[:300_000])
            half.set()
            release.wait(60)
            conn.send(data[300_000:])
            conn.getresponse()
        except (OSError, http.client.HTTPException):
            pass
        finally:
            half.set()
            conn.close()

    t = threading.Thread(target=send)
    t.start()
    assert half.wait(30)
    wait_until(lambda: any(json.loads(v)["key"] == BUCKET + "/" + key
                           for v in mc.c.etcd_range(ROOT + "txn/").values()),
               timeout=20, what="the part's WAL record")
    time.sleep(0.5)
    name = mc.kill_gateway()
    release.set()
    t.join(60)
    mc.restart_gateway(name)
    s3 = mc.s3
    # the upload goes on: part 2 again, then Complete
    r = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=2, Body=data)
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={
        "Parts": done + [{"PartNumber": 2, "ETag": r["ETag"]}]})
    assert read_back(mc, key) == body("kp1", 70_000) + data
    wait_no_orphans(mc.c, timeout=90)  # the dead write rolled back by the healer


@pytest.mark.parametrize("delay", [0.05, 0.4, 1.5, "committed"])
def test_gateway_killed_mid_complete(mc, delay):
    """Killed at several instants of a Complete ("committed": as soon as etcd shows the upload
    COMPLETED, while its part records are being retired)."""
    s3 = mc.s3
    key = f"kill/complete-{delay}"
    native_put(mc, key, b"OLD VERSION")
    uid, done, whole = upload_many(s3, key, 1500, lambda i: MIN_PART + i % 13,
                                   StorageClass="REDUCED_REDUNDANCY")

    def complete():
        try:
            client(mc.endpoint, timeout=30).complete_multipart_upload(
                Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={"Parts": done})
        except Exception:  # noqa: BLE001 - the gateway dies under it
            pass

    t = threading.Thread(target=complete)
    t.start()
    if delay == "committed":
        wait_until(lambda: (uploads(mc.c).get(uid) or {"state": "COMPLETED"})["state"]
                   == "COMPLETED", timeout=60, interval=0.01, what="the Complete's commit")
    else:
        time.sleep(delay)
    name = mc.kill_gateway()
    at_kill = ((uploads(mc.c).get(uid) or {}).get("state", "gone"), len(part_records(mc.c, uid)))
    t.join(60)
    mc.restart_gateway(name)
    s3 = mc.s3
    now = read_back(mc, key)
    assert now in (b"OLD VERSION", whole), "neither the old nor the new object"
    state = (uploads(mc.c).get(uid) or {}).get("state", "gone")
    print(f"killed at {delay} into Complete: upload {at_kill[0]} with {at_kill[1]} part records "
          f"at the kill; after the restart {'old' if now != whole else 'new'} object, "
          f"upload {state}")
    # old object: the upload is still completable; new: a repeated Complete answers it (or the
    # upload is gone already)
    try:
        s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                     MultipartUpload={"Parts": done})
    except ClientError as e:
        assert now == whole and e.response["Error"]["Code"] == "NoSuchUpload"
    assert read_back(mc, key) == whole
    wait_until(lambda: uid not in uploads(mc.c) and not part_records(mc.c, uid), timeout=60,
               what="upload ended")
    wait_no_orphans(mc.c, timeout=90)


# ---- the healer's upload pass -------------------------------------------------------------


@pytest.fixture(scope="module")
def hc(tmp_path_factory):
    env = {"HS_HEALER_UPLOAD_MAX_AGE": "8s", "HS_HEALER_RETIRE_GRACE": "1s",
           "HS_HEALER_GC_GRACE": "2s", "HS_HEALER_GC_INTERVAL": "2s",
           "HS_HEALER_PASS_INTERVAL": "300ms", "HS_GATEWAY_SEGMENT_SIZE": "64KiB",
           "HS_GATEWAY_S3_MIN_PART_SIZE": str(MIN_PART)}
    sc = start(str(tmp_path_factory.mktemp("s3mpu-healer")), env, nodes=3, gateways=1, healers=1)
    yield sc
    sc.stop()


def test_healer_removes_abandoned_upload(hc):
    s3 = hc.s3
    uid, _ = upload(s3, "abandoned", {n: body(f"ab{n}", 100_000) for n in (1, 2)},
                    StorageClass="REDUCED_REDUNDANCY")
    stored = all_blobs(hc.c)
    mine = set()
    for rec in part_records(hc.c, uid).values():
        mine |= part_blobs(rec["data"])
    assert mine and mine <= stored
    wait_until(lambda: uid not in uploads(hc.c) and not part_records(hc.c, uid), timeout=60,
               interval=0.5, what="the healer to end the abandoned upload")
    wait_until(lambda: not (mine & all_blobs(hc.c)), timeout=60, interval=0.5,
               what="the abandoned parts' blobs deleted")
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=BUCKET, Key="abandoned", UploadId=uid)
    assert err_code(e) == "NoSuchUpload"
    wait_no_orphans(hc.c)


def test_degraded_part_marks_the_object_for_repair(hc):
    """A part stored while a node is down is recorded as degraded; Complete marks the object
    for repair (repair/<key>) in its commit, and the healer restores it once the node is back."""
    s3 = hc.s3
    key = "degraded"
    node = hc.c.processes("node")[0]["name"]
    hc.c.kill(node)
    try:
        uid, done = upload(s3, key, {1: body("dg1", 90_000), 2: body("dg2", 500)},
                           StorageClass="REDUCED_REDUNDANCY")
        assert any(r.get("dgr") for r in part_records(hc.c, uid).values())
        s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                     MultipartUpload={"Parts": done})
        assert read_back(hc, key) == body("dg1", 90_000) + body("dg2", 500)
        assert hc.c.etcd_range(ROOT + "repair/" + BUCKET + "/" + key), "no repair mark"
    finally:
        p = hc.c.proc(node)
        hc.extra.append(Proc(p["argv"], p["log"]))
    wait_until(lambda: not hc.c.etcd_range(ROOT + "repair/" + BUCKET + "/" + key), timeout=90,
               interval=0.5, what="the healer to repair the object")
    m, _ = manifest(hc.c, BUCKET + "/" + key)
    held = all_blobs(hc.c)
    assert all((b["id"], b["node"]) in held for sg in unpack(m["data"]) for b in sg["blobs"])

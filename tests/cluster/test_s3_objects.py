"""S3 object operations against a real cluster, through nginx's S3 endpoint (cluster.json "s3"):
boto3 for what clients do every day, raw requests signed with botocore's SigV4 signer for the
edge cases - every payload mode (hex SHA-256, UNSIGNED-PAYLOAD, aws-chunked signed with and
without a trailer, STREAMING-UNSIGNED-PAYLOAD-TRAILER without Content-Length), every bad digest
(SHA-256, Content-MD5, flexible checksum in a header and in a trailer, chunk signature) leaving
the old version readable and no orphan blob, ranges, conditional requests, copy, DeleteObjects,
listings (v2, v1, versions, encoding-type=url with awkward keys) and the native interplay
(`hybridstore get b/k`, /v1 PATCH of a JSON document put through S3)."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import urllib.parse
import zlib
from email.utils import formatdate, parsedate_to_datetime
from xml.etree import ElementTree

import pytest
import requests

for _k in [k for k in os.environ if k.startswith("AWS_")]:
    del os.environ[_k]  # an inherited AWS_* setting must not change what the clients send

import boto3  # noqa: E402
import botocore  # noqa: E402
from botocore.auth import S3SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

import hsdata  # noqa: E402
from cluster import HsCluster, start_with_env  # noqa: E402
from harness import HS_BIN, wait_until  # noqa: E402
from writekit import MiB, assert_no_orphans, gateways, manifest, vm_hwm_kib  # noqa: E402

BUCKET = "objects"
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = HsCluster(str(tmp_path_factory.mktemp("cluster")), nodes=6, gateways=2, healers=0)
    c.start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def s3(cluster):
    i = cluster.s3
    client = boto3.client(
        "s3", endpoint_url=i["endpoint"], region_name=i["region"],
        aws_access_key_id=i["access_key"], aws_secret_access_key=i["secret_key"],
        config=botocore.config.Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))
    client.create_bucket(Bucket=BUCKET)
    return client


def code_of(exc):
    return exc.value.response["Error"]["Code"]


def status_of(exc):
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


# ---- raw requests signed with botocore's signer ---------------------------------------------

class FixedPayloadAuth(S3SigV4Auth):
    """Signs with a given x-amz-content-sha256 value (a streaming mode, or a wrong hash)."""

    def __init__(self, creds, region, payload):
        super().__init__(creds, "s3", region)
        self._payload = payload

    def payload(self, request):
        return self._payload


class Signer:
    def __init__(self, cluster):
        i = cluster.s3
        self.endpoint = i["endpoint"]
        self.region = i["region"]
        self.creds = Credentials(i["access_key"], i["secret_key"])
        self.secret = i["secret_key"]

    def url(self, key, query=""):
        path = "/" + BUCKET + "/" + urllib.parse.quote(key, safe="/~")
        return self.endpoint + path + ("?" + query if query else "")

    def sign(self, method, url, headers=None, payload=None, body=b""):
        """Headers (with Authorization) for a request; payload None = hex SHA-256 of body."""
        if payload is None:
            payload = hashlib.sha256(body if isinstance(body, bytes) else b"").hexdigest()
        req = AWSRequest(method=method, url=url, headers=dict(headers or {}))
        FixedPayloadAuth(self.creds, self.region, payload).add_auth(req)
        return dict(req.headers.items())

    def request(self, method, key, body=b"", headers=None, payload=None, query=""):
        url = self.url(key, query)
        h = self.sign(method, url, headers, payload, body)
        return requests.request(method, url, data=body, headers=h, timeout=60)

    # aws-chunked bodies
    def signing_key(self, date8):
        k = ("AWS4" + self.secret).encode()
        for part in (date8, self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        return k

    def chunked(self, headers, chunks, trailer=None, signed=True):
        """The aws-chunked body for signed headers (seed from their Authorization)."""
        if not signed:
            out = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n"
            if trailer:
                out += b"".join(b"%s:%s\r\n" % (n.encode(), v.encode()) for n, v in trailer)
            return out + b"\r\n"
        auth = headers["Authorization"]
        seed = auth.rsplit("Signature=", 1)[1]
        date = headers["X-Amz-Date"]
        scope = f"{date[:8]}/{self.region}/s3/aws4_request"
        key = self.signing_key(date[:8])
        prev, out = seed, b""
        for c in [c for c in chunks if c] + [b""]:
            sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", date, scope, prev, EMPTY_SHA256,
                             hashlib.sha256(c).hexdigest()])
            prev = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
            out += b"%x;chunk-signature=%s\r\n%s" % (len(c), prev.encode(), c)
            out += b"\r\n" if c else b""
        if trailer:
            lines = b"".join(b"%s:%s\n" % (n.encode(), v.encode()) for n, v in trailer)
            sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", date, scope, prev,
                             hashlib.sha256(lines).hexdigest()])
            tsig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
            out += b"".join(b"%s:%s\r\n" % (n.encode(), v.encode()) for n, v in trailer)
            out += b"x-amz-trailer-signature:%s\r\n" % tsig.encode()
        return out + b"\r\n"


@pytest.fixture(scope="module")
def raw(cluster, s3):
    return Signer(cluster)


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def crc32c_b64(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return base64.b64encode((crc ^ 0xFFFFFFFF).to_bytes(4, "big")).decode()


def md5_b64(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def get_body(s3, key):
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


# ---- put / get / head ------------------------------------------------------------------------

def test_put_get_head_return_body_etag_metadata_and_attributes(s3):
    body = b"hello, s3"
    r = s3.put_object(Bucket=BUCKET, Key="attrs/one", Body=body, ContentType="text/plain",
                      Metadata={"Color": "Blue", "x-y": "1 2"}, CacheControl="max-age=60",
                      ContentDisposition='attachment; filename="a.txt"',
                      ContentEncoding="identity", ContentLanguage="de-CH",
                      Expires="Thu, 01 Dec 2033 16:00:00 GMT")
    md5 = hashlib.md5(body).hexdigest()
    assert r["ETag"] == f'"{md5}"'
    assert "x-amz-version-id" not in r["ResponseMetadata"]["HTTPHeaders"]
    for resp in (s3.get_object(Bucket=BUCKET, Key="attrs/one"),
                 s3.head_object(Bucket=BUCKET, Key="attrs/one")):
        h = resp["ResponseMetadata"]["HTTPHeaders"]
        assert resp["ETag"] == f'"{md5}"' and resp["ContentLength"] == len(body)
        assert resp["ContentType"] == "text/plain"
        assert resp["Metadata"] == {"color": "Blue", "x-y": "1 2"}
        assert resp["CacheControl"] == "max-age=60"
        assert resp["ContentDisposition"] == 'attachment; filename="a.txt"'
        assert resp["ContentEncoding"] == "identity" and resp["ContentLanguage"] == "de-CH"
        assert h["expires"] == "Thu, 01 Dec 2033 16:00:00 GMT"
        assert h["accept-ranges"] == "bytes" and "x-amz-version-id" not in h
        # RFC 1123, GMT
        assert h["last-modified"].endswith(" GMT") and parsedate_to_datetime(h["last-modified"])
    assert get_body(s3, "attrs/one") == body
    # a new PUT replaces the attributes: none of the old ones survive
    s3.put_object(Bucket=BUCKET, Key="attrs/one", Body=b"x")
    h = s3.head_object(Bucket=BUCKET, Key="attrs/one")
    assert h["Metadata"] == {} and "CacheControl" not in h


def test_empty_object_round_trips(s3):
    r = s3.put_object(Bucket=BUCKET, Key="empty/one", Body=b"")
    assert r["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    g = s3.get_object(Bucket=BUCKET, Key="empty/one")
    assert g["Body"].read() == b"" and g["ContentLength"] == 0
    assert s3.head_object(Bucket=BUCKET, Key="empty/one")["ContentLength"] == 0
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=BUCKET, Key="empty/one", Range="bytes=0-0")
    assert code_of(e) == "InvalidRange"


def test_user_metadata_over_2_kb_is_metadata_too_large(s3):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=BUCKET, Key="attrs/big", Body=b"x", Metadata={"a": "v" * 2100})
    assert code_of(e) == "MetadataTooLarge" and status_of(e) == 400
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=BUCKET, Key="attrs/big")
    assert status_of(e) == 404


def test_missing_key_is_no_such_key_and_head_has_no_body(s3, raw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=BUCKET, Key="nothing/here")
    assert code_of(e) == "NoSuchKey" and status_of(e) == 404
    r = raw.request("HEAD", "nothing/here")
    assert r.status_code == 404 and r.content == b""


def test_large_put_streams_in_segments_and_round_trips(s3):
    body = os.urandom(20 * MiB + 12345)  # three 8 MiB segments
    r = s3.put_object(Bucket=BUCKET, Key="big/one", Body=body)
    assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    assert get_body(s3, "big/one") == body


def test_streamed_aws_chunked_put_keeps_gateway_memory_bounded(cluster, s3, raw):
    """256 MiB as STREAMING-UNSIGNED-PAYLOAD-TRAILER without Content-Length: the gateway holds
    a segment at a time, never the body."""
    n, chunk = 256, os.urandom(MiB)
    md5, crc = hashlib.md5(), 0
    url = raw.url("big/stream")
    hdr = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(n * MiB),
           "x-amz-trailer": "x-amz-checksum-crc32"}
    h = raw.sign("PUT", url, hdr, payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER")

    def body():
        nonlocal crc
        for i in range(n):
            piece = bytes([i]) + chunk[1:]
            md5.update(piece)
            crc = zlib.crc32(piece, crc)
            yield b"%x\r\n%s\r\n" % (len(piece), piece)
        value = base64.b64encode(crc.to_bytes(4, "big"))
        yield b"0\r\nx-amz-checksum-crc32:%s\r\n\r\n" % value

    r = requests.put(url, data=body(), headers=h, timeout=600)
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"%s"' % md5.hexdigest()
    hwm = [vm_hwm_kib(p["pid"]) for p in cluster.processes("gateway")]
    print(f"gateway VmHWM after a 256 MiB aws-chunked PUT: {hwm} KiB")
    assert max(hwm) < 200 * 1024, f"gateway peak RSS {hwm} KiB"
    got = hashlib.md5()
    with s3.get_object(Bucket=BUCKET, Key="big/stream")["Body"] as b:
        for piece in iter(lambda: b.read(MiB), b""):
            got.update(piece)
    assert got.hexdigest() == md5.hexdigest()
    raw.request("DELETE", "big/stream")


def test_put_conditions_are_checked_atomically(s3, raw):
    s3.put_object(Bucket=BUCKET, Key="cond/put", Body=b"v1")
    etag = hashlib.md5(b"v1").hexdigest()
    r = raw.request("PUT", "cond/put", b"v2", headers={"If-None-Match": "*"})
    assert r.status_code == 412 and b"<Code>PreconditionFailed</Code>" in r.content
    r = raw.request("PUT", "cond/put", b"v2", headers={"If-Match": '"0123"'})
    assert r.status_code == 412
    assert get_body(s3, "cond/put") == b"v1"
    r = raw.request("PUT", "cond/put", b"v2", headers={"If-Match": f'"{etag}"'})
    assert r.status_code == 200, r.text
    r = raw.request("PUT", "cond/new", b"n", headers={"If-None-Match": "*"})
    assert r.status_code == 200, r.text
    assert get_body(s3, "cond/put") == b"v2"


def test_racing_if_none_match_puts_have_exactly_one_winner(s3, raw):
    """The condition is part of the commit's compare-and-swap: of 8 racing creators of one key,
    one wins and the others get 412, whatever the interleaving."""
    from concurrent.futures import ThreadPoolExecutor

    def create(i):
        return raw.request("PUT", "cond/race", b"writer %d" % i, headers={"If-None-Match": "*"})

    with ThreadPoolExecutor(8) as ex:
        codes = sorted(r.status_code for r in ex.map(create, range(8)))
    assert codes == [200] + [412] * 7, codes
    assert get_body(s3, "cond/race").startswith(b"writer ")


# ---- ranges and conditional reads ------------------------------------------------------------

def test_single_range_is_206_and_unsatisfiable_is_416(s3, raw):
    body = bytes(range(256)) * 40
    s3.put_object(Bucket=BUCKET, Key="range/a", Body=body)
    r = s3.get_object(Bucket=BUCKET, Key="range/a", Range="bytes=10-19")
    assert r["Body"].read() == body[10:20] and r["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    r = s3.get_object(Bucket=BUCKET, Key="range/a", Range="bytes=-5")
    assert r["Body"].read() == body[-5:]
    r = s3.get_object(Bucket=BUCKET, Key="range/a", Range=f"bytes=100-{len(body) + 50}")
    assert r["Body"].read() == body[100:]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=BUCKET, Key="range/a", Range=f"bytes={len(body)}-")
    assert code_of(e) == "InvalidRange" and status_of(e) == 416
    r = raw.request("HEAD", "range/a", headers={"Range": "bytes=0-0"})
    assert r.status_code == 206 and r.headers["Content-Length"] == "1"


def test_conditional_get_follows_rfc_9110_order(s3, raw):
    s3.put_object(Bucket=BUCKET, Key="cond/get", Body=b"data")
    etag = '"%s"' % hashlib.md5(b"data").hexdigest()
    lm = s3.head_object(Bucket=BUCKET, Key="cond/get")["ResponseMetadata"]["HTTPHeaders"][
        "last-modified"]
    past = "Sat, 01 Jan 2000 00:00:00 GMT"
    future = formatdate(parsedate_to_datetime(lm).timestamp() + 3600, usegmt=True)
    cases = [
        ({"If-Match": etag}, 200),
        ({"If-Match": '"nope"'}, 412),
        ({"If-Match": "*"}, 200),
        ({"If-None-Match": etag}, 304),
        ({"If-None-Match": '"nope"'}, 200),
        ({"If-Modified-Since": lm}, 304),
        ({"If-Modified-Since": past}, 200),
        ({"If-Unmodified-Since": past}, 412),
        ({"If-Unmodified-Since": future}, 200),
        # If-Match decides, If-Unmodified-Since is then not evaluated
        ({"If-Match": etag, "If-Unmodified-Since": past}, 200),
        # If-None-Match decides, If-Modified-Since is then not evaluated
        ({"If-None-Match": '"nope"', "If-Modified-Since": future}, 200),
        ({"If-Match": '"nope"', "If-None-Match": etag}, 412),
    ]
    for method in ("GET", "HEAD"):
        for headers, want in cases:
            r = raw.request(method, "cond/get", headers=headers)
            assert r.status_code == want, (method, headers, r.status_code, r.text)
            if want == 304:
                assert r.headers["ETag"] == etag and r.content == b""


def test_response_overrides_and_checksum_mode(s3, raw):
    body = b"checksummed body"
    r = raw.request("PUT", "ck/one", body, headers={"x-amz-checksum-crc32": crc32_b64(body)})
    assert r.status_code == 200, r.text
    assert r.headers["x-amz-checksum-crc32"] == crc32_b64(body)
    g = s3.get_object(Bucket=BUCKET, Key="ck/one", ChecksumMode="ENABLED")
    assert g["ChecksumCRC32"] == crc32_b64(body) and g["Body"].read() == body
    h = raw.request("GET", "ck/one")
    assert "x-amz-checksum-crc32" not in h.headers  # only when asked
    s3.put_object(Bucket=BUCKET, Key="ck/none", Body=body)
    h = raw.request("GET", "ck/none", headers={"x-amz-checksum-mode": "ENABLED"})
    assert not [k for k in h.headers if k.lower().startswith("x-amz-checksum-")]  # none invented
    g = s3.get_object(Bucket=BUCKET, Key="ck/one", ResponseContentType="text/x-over",
                      ResponseCacheControl="no-store",
                      ResponseContentDisposition="inline")
    assert g["ContentType"] == "text/x-over" and g["CacheControl"] == "no-store"
    assert g["ContentDisposition"] == "inline"


# ---- every payload mode, and every bad digest ------------------------------------------------

def put_modes(raw, key, body):
    """(name, response) of a PUT of body in every payload mode, one at a time."""
    yield "sha256", raw.request("PUT", key, body)
    yield "unsigned", raw.request("PUT", key, body, payload="UNSIGNED-PAYLOAD")
    yield "content-md5 and crc32c", raw.request(
        "PUT", key, body, headers={"Content-MD5": md5_b64(body),
                                   "x-amz-checksum-crc32c": crc32c_b64(body)})
    chunks = [body[:65536], body[65536:]]
    for mode, trailer in (("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", None),
                          ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                           [("x-amz-checksum-crc32", crc32_b64(body))])):
        url = raw.url(key)
        hdr = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(body))}
        if trailer:
            hdr["x-amz-trailer"] = "x-amz-checksum-crc32"
        h = raw.sign("PUT", url, hdr, payload=mode)
        data = raw.chunked(h, chunks, trailer)
        yield mode, requests.put(url, data=data, headers=h, timeout=60)
    # no Content-Length at all: Transfer-Encoding: chunked carrying aws-chunked
    url = raw.url(key)
    hdr = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(body)),
           "x-amz-trailer": "x-amz-checksum-crc32"}
    h = raw.sign("PUT", url, hdr, payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    data = raw.chunked(h, chunks, [("x-amz-checksum-crc32", crc32_b64(body))], signed=False)
    yield "unsigned-trailer", requests.put(url, data=iter([data[:100], data[100:]]), headers=h,
                                           timeout=60)


# 100 000 bytes: less than MHD's connection buffer (one piece); 300 000: several pieces
@pytest.mark.parametrize("size", [100000, 300000])
def test_every_payload_mode_stores_the_body(s3, raw, size):
    body = os.urandom(size)
    for name, r in put_modes(raw, "modes/one", body):
        assert r.status_code == 200, (name, r.text)
        assert r.headers["ETag"] == '"%s"' % hashlib.md5(body).hexdigest(), name
        assert get_body(s3, "modes/one") == body, name
        # aws-chunked describes the request only: it is not stored as a Content-Encoding
        assert "ContentEncoding" not in s3.head_object(Bucket=BUCKET, Key="modes/one"), name
        raw.request("DELETE", "modes/one")


def bad_plain_requests(raw, key, body):
    """(what, want code, response) of PUTs with a plain body that must fail their checks."""
    url = raw.url(key)
    out = []
    h = raw.sign("PUT", url, payload=hashlib.sha256(b"other").hexdigest())
    out.append(("bad sha256", "XAmzContentSHA256Mismatch",
                requests.put(url, data=body, headers=h, timeout=60)))
    out.append(("bad content-md5", "BadDigest",
                raw.request("PUT", key, body, headers={"Content-MD5": md5_b64(b"other")})))
    out.append(("bad crc32 header", "BadDigest",
                raw.request("PUT", key, body, headers={"x-amz-checksum-crc32": crc32_b64(b"x")})))
    return out


def bad_chunked_requests(raw, key, body):
    """(what, want code, response) of aws-chunked PUTs that must fail their checks."""
    url = raw.url(key)
    out = []
    hdr = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(body)),
           "x-amz-trailer": "x-amz-checksum-crc32"}
    h = raw.sign("PUT", url, hdr, payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    data = raw.chunked(h, [body], [("x-amz-checksum-crc32", crc32_b64(b"x"))], signed=False)
    out.append(("bad crc32 trailer", "BadDigest",
                requests.put(url, data=iter([data]), headers=h, timeout=60)))
    hdr = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(body))}
    h = raw.sign("PUT", url, hdr, payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    split = 8 * MiB + 100
    data = bytearray(raw.chunked(h, [body[:split], body[split:]]))
    at = data.index(b"chunk-signature=", split) + len(b"chunk-signature=")  # the 2nd chunk's
    data[at] = ord("0") if data[at] != ord("0") else ord("1")
    out.append(("bad chunk signature", "SignatureDoesNotMatch",
                requests.put(url, data=bytes(data), headers=h, timeout=60)))
    hdr["x-amz-decoded-content-length"] = str(len(body) + 10)
    h = raw.sign("PUT", url, hdr, payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    out.append(("short body", "IncompleteBody",
                requests.put(url, data=raw.chunked(h, [body]), headers=h, timeout=60)))
    return out


@pytest.mark.parametrize("requests_of", [bad_plain_requests, bad_chunked_requests])
def test_bad_digest_aborts_before_commit_and_keeps_the_old_version(cluster, s3, raw,
                                                                   requests_of):
    old = b"the old version"
    s3.put_object(Bucket=BUCKET, Key="bad/one", Body=old)
    body = os.urandom(9 * MiB)  # more than a segment: blobs are stored before the check fails
    for what, code, r in requests_of(raw, "bad/one", body):
        assert r.status_code in (400, 403), (what, r.status_code, r.text)
        assert f"<Code>{code}</Code>".encode() in r.content, (what, r.text)
        assert get_body(s3, "bad/one") == old, what
    assert_no_orphans(cluster)


def test_bad_digest_of_a_one_segment_body_keeps_the_old_version(cluster, s3, raw):
    """1 MiB, the benchmark's size: less than a segment, so nothing reached the nodes when the
    check fails; the old version stays, nothing is left, and the right digest then succeeds."""
    old = b"the old version"
    s3.put_object(Bucket=BUCKET, Key="bad/small", Body=old)
    body = os.urandom(MiB)
    for what, code, r in bad_plain_requests(raw, "bad/small", body):
        assert r.status_code in (400, 403), (what, r.status_code, r.text)
        assert f"<Code>{code}</Code>".encode() in r.content, (what, r.text)
        assert get_body(s3, "bad/small") == old, what
    r = raw.request("PUT", "bad/small", body, headers={"Content-MD5": md5_b64(body)})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    assert get_body(s3, "bad/small") == body
    assert_no_orphans(cluster)


def test_expect_100_continue_is_answered(s3, raw, cluster):
    body = b"after the interim answer"
    url = raw.url("expect/one")
    h = raw.sign("PUT", url, {"Expect": "100-continue",
                              "Content-Length": str(len(body))}, body=body)
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.putrequest("PUT", u.path, skip_accept_encoding=True)
    for k, v in h.items():
        conn.putheader(k, v)
    conn.endheaders()
    # the interim 100 arrives before any body byte is sent
    line = conn.sock.makefile("rb").readline()
    assert line.startswith(b"HTTP/1.1 100"), line
    conn.sock.sendall(body)
    resp = conn.getresponse()
    while resp.status == 100:  # http.client may still see the interim answer
        resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    conn.close()
    assert get_body(s3, "expect/one") == body


# ---- delete ----------------------------------------------------------------------------------

def test_delete_object_is_204_for_present_and_missing_keys(s3, raw):
    s3.put_object(Bucket=BUCKET, Key="del/one", Body=b"x")
    r = raw.request("DELETE", "del/one", query="versionId=null",
                    headers={"x-amz-bypass-governance-retention": "true"})
    assert r.status_code == 204, r.text
    assert raw.request("DELETE", "del/one").status_code == 204
    assert raw.request("HEAD", "del/one").status_code == 404
    assert raw.request("HEAD", "del/one", query="versionId=null").status_code == 404


def test_delete_objects_quiet_and_verbose(s3, raw):
    for i in range(5):
        s3.put_object(Bucket=BUCKET, Key=f"multi/{i}", Body=b"x")
    r = s3.delete_objects(Bucket=BUCKET, Delete={
        "Objects": [{"Key": "multi/0"}, {"Key": "multi/1", "VersionId": "null"},
                    {"Key": "multi/missing"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["multi/0", "multi/1", "multi/missing"]
    r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "multi/2"}], "Quiet": True})
    assert "Deleted" not in r and "Errors" not in r
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="multi/")["Contents"]]
    assert left == ["multi/3", "multi/4"]
    # a flexible checksum instead of Content-MD5 (botocore >= 1.36 over http), then a bad one
    xml = (b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>multi/3'
           b'</Key></Object></Delete>')
    r = raw.request("POST", "", xml, query="delete", headers={"x-amz-checksum-crc32":
                                                              crc32_b64(xml)})
    assert r.status_code == 200 and b"<Deleted><Key>multi/3</Key></Deleted>" in r.content, r.text
    r = raw.request("POST", "", xml.replace(b"/3", b"/4"), query="delete",
                    headers={"Content-MD5": md5_b64(xml)})
    assert r.status_code == 400 and b"BadDigest" in r.content
    assert raw.request("HEAD", "multi/4").status_code == 200


# ---- copy ------------------------------------------------------------------------------------

def test_copy_object_copy_and_replace_directives(s3, raw):
    body = os.urandom(3000)
    src = "copy/src key+&%"
    s3.put_object(Bucket=BUCKET, Key=src, Body=body, ContentType="image/png",
                  Metadata={"m": "1"}, CacheControl="max-age=5")
    r = s3.copy_object(Bucket=BUCKET, Key="copy/dst1", CopySource={"Bucket": BUCKET, "Key": src})
    md5 = '"%s"' % hashlib.md5(body).hexdigest()
    assert r["CopyObjectResult"]["ETag"] == md5 and r["CopyObjectResult"]["LastModified"]
    h = s3.head_object(Bucket=BUCKET, Key="copy/dst1")
    assert h["ContentType"] == "image/png" and h["Metadata"] == {"m": "1"}
    assert h["CacheControl"] == "max-age=5" and get_body(s3, "copy/dst1") == body
    s3.copy_object(Bucket=BUCKET, Key="copy/dst2", CopySource=f"{BUCKET}/{src}?versionId=null",
                   MetadataDirective="REPLACE", ContentType="text/plain", Metadata={"n": "2"})
    h = s3.head_object(Bucket=BUCKET, Key="copy/dst2")
    assert h["ContentType"] == "text/plain" and h["Metadata"] == {"n": "2"}
    assert "CacheControl" not in h and get_body(s3, "copy/dst2") == body
    # raw: "/bucket/key" with the key URL-encoded, and a failing copy-source condition
    source = "/" + BUCKET + "/" + urllib.parse.quote(src)
    r = raw.request("PUT", "copy/dst3", headers={"x-amz-copy-source": source})
    assert r.status_code == 200 and b"<CopyObjectResult" in r.content, r.text
    r = raw.request("PUT", "copy/dst4", headers={"x-amz-copy-source": source,
                                                 "x-amz-copy-source-if-match": '"nope"'})
    assert r.status_code == 412
    r = raw.request("PUT", "copy/dst4", headers={"x-amz-copy-source": source,
                                                 "x-amz-copy-source-if-none-match": md5})
    assert r.status_code == 412
    assert raw.request("HEAD", "copy/dst4").status_code == 404
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=BUCKET, Key=src, CopySource={"Bucket": BUCKET, "Key": src})
    assert code_of(e) == "InvalidRequest"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=BUCKET, Key="copy/x", CopySource={"Bucket": BUCKET, "Key": "no"})
    assert code_of(e) == "NoSuchKey"


# ---- listings --------------------------------------------------------------------------------

LIST_KEYS = ["list/a", "list/b/1", "list/b/2", "list/b/3", "list/c", "list/d/1", "list/e"]


@pytest.fixture(scope="module")
def listed(s3):
    for k in LIST_KEYS:
        s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode())
    return LIST_KEYS


def pages_v2(s3, **kw):
    out, token = [], None
    while True:
        args = dict(kw, **({"ContinuationToken": token} if token else {}))
        r = s3.list_objects_v2(Bucket=BUCKET, **args)
        out.append(r)
        if not r["IsTruncated"]:
            return out
        token = r["NextContinuationToken"]


def rows(r):
    return [o["Key"] for o in r.get("Contents", [])] + \
        [p["Prefix"] for p in r.get("CommonPrefixes", [])]


def test_list_v2_prefix_delimiter_pages_and_start_after(s3, listed):
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/")
    assert [o["Key"] for o in r["Contents"]] == LIST_KEYS and r["KeyCount"] == 7
    o = r["Contents"][0]
    assert o["Size"] == len(b"list/a") and o["StorageClass"] == "STANDARD"
    assert o["ETag"] == '"%s"' % hashlib.md5(b"list/a").hexdigest()
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["list/a", "list/c", "list/e"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["list/b/", "list/d/"]
    assert r["KeyCount"] == 5 and not r["IsTruncated"]
    # common prefixes share max-keys; pages never repeat a row
    pages = pages_v2(s3, Prefix="list/", Delimiter="/", MaxKeys=2)
    assert [p["KeyCount"] for p in pages] == [2, 2, 1]
    assert sorted(sum((rows(p) for p in pages), [])) == \
        ["list/a", "list/b/", "list/c", "list/d/", "list/e"]
    pages = pages_v2(s3, Prefix="list/", MaxKeys=3)
    assert sum((rows(p) for p in pages), []) == LIST_KEYS
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/", StartAfter="list/b/2")
    assert [o["Key"] for o in r["Contents"]] == LIST_KEYS[3:] and r["StartAfter"] == "list/b/2"
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/", MaxKeys=0)
    assert r["KeyCount"] == 0 and "Contents" not in r
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_objects_v2(Bucket=BUCKET, ContinuationToken="zz-not-a-token")
    assert code_of(e) == "InvalidArgument"


def test_list_v1_marker_and_next_marker(s3, listed):
    r = s3.list_objects(Bucket=BUCKET, Prefix="list/", MaxKeys=3)
    assert [o["Key"] for o in r["Contents"]] == LIST_KEYS[:3] and r["IsTruncated"]
    assert "NextMarker" not in r  # only with a delimiter
    r = s3.list_objects(Bucket=BUCKET, Prefix="list/", Marker=LIST_KEYS[2])
    assert [o["Key"] for o in r["Contents"]] == LIST_KEYS[3:] and not r["IsTruncated"]
    r = s3.list_objects(Bucket=BUCKET, Prefix="list/", Delimiter="/", MaxKeys=2)
    assert rows(r) == ["list/a", "list/b/"] and r["NextMarker"] == "list/b/"
    r = s3.list_objects(Bucket=BUCKET, Prefix="list/", Delimiter="/", Marker=r["NextMarker"])
    assert rows(r) == ["list/c", "list/e", "list/d/"] and not r["IsTruncated"]


def test_list_object_versions_shows_every_object_as_version_null(s3, listed):
    r = s3.list_object_versions(Bucket=BUCKET, Prefix="list/")
    assert [v["Key"] for v in r["Versions"]] == LIST_KEYS
    assert all(v["VersionId"] == "null" and v["IsLatest"] for v in r["Versions"])
    r = s3.list_object_versions(Bucket=BUCKET, Prefix="list/", MaxKeys=2)
    assert r["IsTruncated"] and r["NextKeyMarker"] == "list/b/1"
    assert r["NextVersionIdMarker"] == "null"
    r = s3.list_object_versions(Bucket=BUCKET, Prefix="list/", KeyMarker=r["NextKeyMarker"],
                                VersionIdMarker=r["NextVersionIdMarker"])
    assert [v["Key"] for v in r["Versions"]] == LIST_KEYS[2:]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_object_versions(Bucket=BUCKET, VersionIdMarker="null")
    assert code_of(e) == "InvalidArgument"


AWKWARD = ["enc/a b", "enc/plus+sign", "enc/100%", "enc/a&b<c>", "enc/ünï/cødé", "enc/x y/z"]


def test_encoding_type_url_is_honoured_for_every_field(s3, raw):
    for k in AWKWARD:
        s3.put_object(Bucket=BUCKET, Key=k, Body=b"e")
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="enc/")  # boto3 asks for url, decodes it
    assert [o["Key"] for o in r["Contents"]] == sorted(AWKWARD, key=str.encode)
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="enc/", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["enc/x y/", "enc/ünï/"]
    # the raw XML: encoded with encoding-type=url (space as +, + as %2B), escaped without
    q = "list-type=2&prefix=enc%2F&delimiter=%2F&encoding-type=url&start-after=enc%2Fa%20b"
    t = raw.request("GET", "", query=q).text
    assert "<EncodingType>url</EncodingType>" in t
    root = ElementTree.fromstring(t.encode())
    keys = [e.text for e in root.iter(NS + "Key")]
    assert keys == ["enc/a%26b%3Cc%3E", "enc/plus%2Bsign"]  # after "enc/a b"
    whole = raw.request("GET", "", query="list-type=2&prefix=enc%2F&encoding-type=url").content
    keys = [e.text for e in ElementTree.fromstring(whole).iter(NS + "Key")]
    assert keys[:2] == ["enc/100%25", "enc/a+b"] and "enc/x+y/z" in keys
    assert "enc/%C3%BCn%C3%AF/c%C3%B8d%C3%A9" in keys
    assert root.find(NS + "StartAfter").text == "enc/a+b"
    assert root.find(NS + "Prefix").text == "enc/" and root.find(NS + "Delimiter").text == "/"
    assert [e.text for e in root.iter(NS + "Prefix")][1:] == ["enc/x+y/", "enc/%C3%BCn%C3%AF/"]
    t = raw.request("GET", "", query="list-type=2&prefix=enc%2F").text
    assert "EncodingType" not in t and "<Key>enc/a&amp;b&lt;c&gt;</Key>" in t
    q = "prefix=enc%2F&delimiter=%2F&encoding-type=url&max-keys=1&marker=enc%2Fa%20b"
    root = ElementTree.fromstring(raw.request("GET", "", query=q).content)
    assert root.find(NS + "Marker").text == "enc/a+b"
    assert root.find(NS + "NextMarker").text == "enc/a%26b%3Cc%3E"


def test_listing_skips_a_common_prefix_without_walking_it(cluster, s3):
    """A delimiter rolls 300 keys up into one row; the page after it still comes back."""
    for i in range(300):
        s3.put_object(Bucket=BUCKET, Key=f"deep/big/{i:04d}", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="deep/z", Body=b"")
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="deep/", Delimiter="/", MaxKeys=1)
    assert rows(r) == ["deep/big/"] and r["IsTruncated"]
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="deep/", Delimiter="/",
                           ContinuationToken=r["NextContinuationToken"])
    assert rows(r) == ["deep/z"] and not r["IsTruncated"]


# ---- the same objects through the native API ------------------------------------------------

def test_s3_objects_are_native_objects(cluster, s3, tmp_path):
    body = os.urandom(5000)
    s3.put_object(Bucket=BUCKET, Key="native/file.bin", Body=body)
    env = dict(os.environ, HYBRIDSTORE_URL=gateways(cluster)[0])
    env.pop("HS_SECRET_FILE", None)
    out = tmp_path / "got.bin"
    r = subprocess.run([HS_BIN, "get", f"{BUCKET}/native/file.bin", "-o", str(out)],
                       capture_output=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == body


def test_json_put_through_s3_is_patched_through_v1(cluster, s3):
    doc = json.dumps({"title": "t", "like_count": 1}, separators=(",", ":")).encode()
    s3.put_object(Bucket=BUCKET, Key="native/doc.json", Body=doc, ContentType="application/json",
                  Metadata={"kept": "yes"})
    gw = gateways(cluster)[0]
    r = requests.patch(f"{gw}/v1/objects/{BUCKET}/native/doc.json", data=b'{"like_count":7}',
                       headers={"Content-Type": "application/merge-patch+json"}, timeout=30)
    assert r.status_code == 200, r.text
    g = s3.get_object(Bucket=BUCKET, Key="native/doc.json")
    assert json.loads(g["Body"].read()) == {"title": "t", "like_count": 7}
    assert g["Metadata"] == {"kept": "yes"}
    assert manifest(cluster, f"{BUCKET}/native/doc.json")["strategy"] == "field_hybrid"
    # a document with whitespace between members is stored byte for byte (not field_hybrid)
    spaced = b'{"title": "t",  "like_count": 1}'
    r = s3.put_object(Bucket=BUCKET, Key="native/spaced.json", Body=spaced,
                      ContentType="application/json")
    assert get_body(s3, "native/spaced.json") == spaced
    assert r["ETag"] == '"%s"' % hashlib.md5(spaced).hexdigest()
    assert manifest(cluster, f"{BUCKET}/native/spaced.json")["strategy"] == "replication"
    # asked for explicitly, field_hybrid refuses what it could not give back byte for byte
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=BUCKET, Key="native/spaced.json", Body=spaced,
                      ContentType="application/json", StorageClass="FIELD_HYBRID")
    assert code_of(e) == "InvalidArgument"
    assert get_body(s3, "native/spaced.json") == spaced
    r = s3.put_object(Bucket=BUCKET, Key="native/doc2.json", Body=doc,
                      ContentType="application/json", StorageClass="FIELD_HYBRID")
    assert r["ETag"] == '"%s"' % hashlib.md5(doc).hexdigest()
    assert get_body(s3, "native/doc2.json") == doc
    # a rewrite with the same cold fields never reuses the stored cold part (byte-exact)
    r = s3.put_object(Bucket=BUCKET, Key="native/doc2.json", Body=doc.replace(b"1", b"2"),
                      ContentType="application/json")
    m = manifest(cluster, f"{BUCKET}/native/doc2.json")
    assert m["strategy"] == "field_hybrid" and m["cold"]["segs"][0]["blobs"][0]["id"].startswith(
        m["txn"])


# ---- with a healer: a failed PUT leaves it nothing to collect --------------------------------

@pytest.fixture(scope="module")
def healed(tmp_path_factory):
    c = start_with_env(str(tmp_path_factory.mktemp("healed")),
                       {"HS_HEALER_GC_GRACE": "0s", "HS_HEALER_PASS_INTERVAL": "300ms"},
                       nodes=6, gateways=1, healers=1)
    yield c
    c.stop()


def healer_metric(c, name):
    (p,) = c.processes("healer")
    try:
        return hsdata.metrics(p["url"], timeout=3).get("hybridstore_healer_" + name, 0)
    except requests.RequestException:
        return 0


def test_failed_puts_leave_no_orphan_after_the_healers_passes(healed):
    i = healed.s3
    client = boto3.client(
        "s3", endpoint_url=i["endpoint"], region_name=i["region"],
        aws_access_key_id=i["access_key"], aws_secret_access_key=i["secret_key"],
        config=botocore.config.Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key="bad/h", Body=b"old")
    signer = Signer(healed)
    body = os.urandom(9 * MiB)
    failed = bad_plain_requests(signer, "bad/h", body) + bad_chunked_requests(signer, "bad/h", body)
    assert all(r.status_code in (400, 403) for _, _, r in failed)
    # two whole GC passes that started after the failures
    start = healer_metric(healed, "gc_passes")
    wait_until(lambda: healer_metric(healed, "gc_passes") >= start + 2, timeout=60,
               what="two GC passes")
    assert healer_metric(healed, "gc_deleted_blobs") == 0  # the writers cleaned up themselves
    assert_no_orphans(healed)
    assert get_body(client, "bad/h") == b"old"

"""The S3 front end's own behaviour against a real cluster (etcd, 6 nodes, 2 gateways, nginx):
the S3 listener and its dispatcher, buckets (create/head/delete/list/location/versioning and
their errors), access keys and their permissions (read-only, bucket-limited, removed), SigV4
failures, anonymous and public-read access, path vs virtual-host addressing, 501 for what is
not offered, the key and bucket CLI, the bucket <-> native key mapping, and --require-auth on
/v1. boto3 (Debian's python3-boto3) is the client; keys come from cluster.json. Most requests go
through nginx's S3 port, some straight to a gateway.

Run: HS_BUILD_DIR=$PWD/build /usr/bin/python3 -m pytest -q -p no:cacheprovider \
         tests/cluster/test_s3_front.py
"""
import datetime
import json
import os
import socket
import stat
import subprocess
import threading
import uuid

import pytest
import requests

# an inherited AWS_* variable (profile, CA bundle, region) must not change what boto3 sends
for _k in [k for k in os.environ if k.startswith("AWS_")]:
    del os.environ[_k]

import boto3  # noqa: E402
import botocore.auth  # noqa: E402
from botocore import UNSIGNED  # noqa: E402
from botocore.auth import S3SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.client import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from cluster import HsCluster, pick_base_port  # noqa: E402
from harness import HS_BIN, wait_until  # noqa: E402

ROOT_DOMAIN = "s3.test"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = HsCluster(str(tmp_path_factory.mktemp("s3front")), nodes=6, gateways=2, healers=0,
                  extra_args=["--s3-root-domain", ROOT_DOMAIN])
    c.start()
    yield c
    c.stop()


def client(endpoint, access, secret, signed=True, **cfg):
    conf = Config(signature_version="s3v4" if signed else UNSIGNED,
                  s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **cfg)
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access,
                        aws_secret_access_key=secret, region_name="us-east-1", config=conf)


@pytest.fixture(scope="module")
def s3info(cluster):
    return cluster.s3


@pytest.fixture(scope="module")
def s3(s3info):
    """The root key through nginx."""
    return client(s3info["endpoint"], s3info["access_key"], s3info["secret_key"])


def gw_s3_url(cluster, i=0):
    return cluster.processes("gateway")[i]["s3_url"]


def code_of(exc):
    return exc.value.response["Error"]["Code"]


def status_of(exc):
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def name(tag):
    return f"{tag}-{uuid.uuid4().hex[:10]}"


def cli(cluster, *args, check=True):
    env = dict(os.environ, HYBRIDSTORE_URL=cluster.url,
               HS_SECRET_FILE=cluster.info["secret_file"])
    p = subprocess.run([HS_BIN, *args], env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def new_key(cluster, *flags):
    """A fresh access key through `hybridstore key create` (its printed lines)."""
    out = cli(cluster, "key", "create", *flags).stdout
    fields = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
    return fields["access_key"].strip(), fields["secret_key"].strip()


class _Clock:
    """botocore.auth's datetime with utcnow() moved by skew (to sign in the past or future)."""

    def __init__(self, skew):
        self.skew = skew

    def __getattr__(self, name):
        return getattr(datetime, name)

    @property
    def datetime(self):
        skew = self.skew

        class Moved(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return datetime.datetime.utcnow() + skew
        return Moved


def signed_request(method, url, access, secret, host=None, data=b"", headers=None,
                   skew=datetime.timedelta(0), region="us-east-1"):
    """A raw SigV4-signed request (botocore's signer), optionally with another Host header or a
    clock moved by skew."""
    h = dict(headers or {})
    if host:
        h["Host"] = host
    req = AWSRequest(method=method, url=url, data=data, headers=h)
    saved = botocore.auth.datetime
    botocore.auth.datetime = _Clock(skew)
    try:
        S3SigV4Auth(Credentials(access, secret), "s3", region).add_auth(req)
    finally:
        botocore.auth.datetime = saved
    return requests.request(method, url, headers=dict(req.headers.items()), data=data,
                            timeout=30)


# ---- the endpoint and its keys -------------------------------------------------------------

def test_cluster_json_has_the_s3_endpoint_and_keys_and_is_private(cluster, s3info):
    assert s3info["region"] == "us-east-1"
    assert s3info["endpoint"] == f"http://127.0.0.1:{cluster.port + 1000}"
    assert s3info["access_key"] and s3info["secret_key"]
    mode = stat.S_IMODE(os.stat(os.path.join(cluster.dir, "cluster.json")).st_mode)
    assert mode == 0o600
    # every gateway serves S3 on its own port, recorded beside its native URL
    ports = [p["s3_url"] for p in cluster.processes("gateway")]
    assert ports == [f"http://127.0.0.1:{cluster.port + 1001 + i}" for i in range(2)]
    with open(cluster.launcher_log, encoding="utf-8") as f:
        assert "S3: endpoint " + s3info["endpoint"] in f.read()


def test_busy_s3_port_is_named_and_nothing_starts(tmp_path):
    base = pick_base_port(nodes=0, gateways=1)
    busy = base + 1000  # nginx's S3 port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", busy))
        s.listen(1)
        out = subprocess.run([HS_BIN, "cluster", "--dir", str(tmp_path / "c"), "--port",
                              str(base), "--nodes", "0", "--gateways", "1", "--healers", "0"],
                             capture_output=True, text=True, timeout=30)
    assert out.returncode == 3, out.stderr
    assert f"port {busy} (nginx s3) is in use" in out.stderr


# ---- buckets -------------------------------------------------------------------------------

def test_bucket_create_head_list_location_versioning_delete(s3):
    b = name("crud")
    s3.create_bucket(Bucket=b)
    s3.head_bucket(Bucket=b)
    assert b in [x["Name"] for x in s3.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=b)
    assert code_of(e) == "BucketAlreadyOwnedByYou" and status_of(e) == 409
    assert s3.get_bucket_location(Bucket=b).get("LocationConstraint") is None
    v = s3.get_bucket_versioning(Bucket=b)
    assert "Status" not in v and "MFADelete" not in v
    resp = s3.delete_bucket(Bucket=b)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=b)
    assert status_of(e) == 404
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=b)
    assert code_of(e) == "NoSuchBucket"
    assert b not in [x["Name"] for x in s3.list_buckets()["Buckets"]]


def test_create_bucket_with_a_location_constraint_body(s3):
    b = name("conf")
    s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.head_bucket(Bucket=b)
    s3.delete_bucket(Bucket=b)


def test_create_bucket_with_a_malformed_configuration_is_malformed_xml(s3info):
    b = name("badxml")
    ak, sk = s3info["access_key"], s3info["secret_key"]
    for body in (b"<NotAConfiguration/>", b"<CreateBucketConfiguration><Location"):
        r = signed_request("PUT", f"{s3info['endpoint']}/{b}", ak, sk, data=body)
        assert r.status_code == 400 and "<Code>MalformedXML</Code>" in r.text, r.text
    s3 = client(s3info["endpoint"], ak, sk)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=b)
    assert status_of(e) == 404


def test_invalid_bucket_names_are_refused(s3):
    for bad in ("ab", "a" * 64, "192.168.1.1", "xn--bucket", "bucket-"):
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket=bad)
        assert code_of(e) == "InvalidBucketName", bad


def test_missing_bucket_answers_no_such_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_location(Bucket=name("nope"))
    assert code_of(e) == "NoSuchBucket" and status_of(e) == 404


def test_delete_refuses_a_bucket_holding_objects_written_natively(cluster, s3):
    """The mapping: bucket b holds native object b/k (written here through /v1)."""
    b = name("full")
    s3.create_bucket(Bucket=b)
    gw = cluster.processes("gateway")[0]["url"]
    r = requests.put(f"{gw}/v1/objects/{b}/dir/k.txt", data=b"native", timeout=30)
    assert r.status_code in (200, 201), r.text
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=b)
    assert code_of(e) == "BucketNotEmpty" and status_of(e) == 409
    # the CLI refuses it too (exit code 4: conflict)
    assert cli(cluster, "bucket", "rm", b, check=False).returncode == 4
    assert requests.delete(f"{gw}/v1/objects/{b}/dir/k.txt", timeout=30).status_code in (200, 204)
    s3.delete_bucket(Bucket=b)


def test_bucket_and_bucket_slash_are_the_same(cluster, s3info):
    b = name("slash")
    ak, sk = s3info["access_key"], s3info["secret_key"]
    ep = s3info["endpoint"]
    assert signed_request("PUT", f"{ep}/{b}/", ak, sk).status_code == 200
    for path in (f"/{b}", f"/{b}/"):
        r = signed_request("GET", f"{ep}{path}?location", ak, sk)
        assert r.status_code == 200, (path, r.text)
        assert "LocationConstraint" in r.text
        assert signed_request("HEAD", f"{ep}{path}", ak, sk).status_code == 200
    assert signed_request("DELETE", f"{ep}/{b}", ak, sk).status_code == 204


def test_virtual_host_style_names_the_bucket_in_the_host(cluster, s3info):
    b = name("vhost")
    ak, sk = s3info["access_key"], s3info["secret_key"]
    for url in (gw_s3_url(cluster), s3info["endpoint"]):  # straight and through nginx
        port = url.rsplit(":", 1)[1]
        host = f"{b}.{ROOT_DOMAIN}:{port}"
        r = signed_request("PUT", f"{url}/", ak, sk, host=host)
        assert r.status_code == 200, r.text
        r = signed_request("GET", f"{url}/?location", ak, sk, host=host)
        assert r.status_code == 200 and "LocationConstraint" in r.text, r.text
        assert signed_request("HEAD", f"{url}/", ak, sk, host=host).status_code == 200
        assert signed_request("DELETE", f"{url}/", ak, sk, host=host).status_code == 204


def test_keys_that_make_no_native_key_are_refused(s3):
    b = name("keys")  # 15 characters: keys of up to 1024 - 16 bytes fit
    s3.create_bucket(Bucket=b)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="k" * (1024 - len(b)))
    assert code_of(e) == "KeyTooLongError" and status_of(e) == 400
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="bad\x01control")
    assert code_of(e) == "InvalidArgument"
    s3.delete_bucket(Bucket=b)


# ---- what is not offered -------------------------------------------------------------------

def test_unsupported_operations_answer_501_with_an_s3_error(s3):
    b = name("nimp")
    s3.create_bucket(Bucket=b)
    for call in (lambda: s3.get_bucket_acl(Bucket=b),
                 lambda: s3.get_bucket_policy(Bucket=b),
                 lambda: s3.get_bucket_tagging(Bucket=b),
                 lambda: s3.put_bucket_versioning(
                     Bucket=b, VersioningConfiguration={"Status": "Enabled"})):
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) == "NotImplemented" and status_of(e) == 501
    s3.delete_bucket(Bucket=b)


def test_acl_private_is_accepted_other_acls_are_not(s3, s3info):
    b = name("acl")
    s3.create_bucket(Bucket=b, ACL="private")
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name("acl"), ACL="public-read")
    assert code_of(e) == "NotImplemented"
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name("acl"), GrantRead='uri="http://acs.amazonaws.com/groups/'
                                                       'global/AllUsers"')
    assert code_of(e) == "NotImplemented"
    # refusals come after authentication: a bad signature is still SignatureDoesNotMatch
    with pytest.raises(ClientError) as e:
        client(s3info["endpoint"], s3info["access_key"], "wrong" * 8).create_bucket(
            Bucket=name("acl"), ACL="public-read")
    assert code_of(e) == "SignatureDoesNotMatch"
    s3.delete_bucket(Bucket=b)


def test_error_body_is_s3_xml_with_request_id(s3info):
    r = requests.get(f"{s3info['endpoint']}/", timeout=10)  # anonymous ListBuckets
    assert r.status_code == 403
    assert r.headers["Content-Type"] == "application/xml"
    rid = r.headers["x-amz-request-id"]
    assert "<Code>AccessDenied</Code>" in r.text and f"<RequestId>{rid}</RequestId>" in r.text
    assert "<Resource>/</Resource>" in r.text
    h = requests.head(f"{s3info['endpoint']}/{name('x')}", timeout=10)
    assert h.status_code == 403 and h.content == b""


# ---- authentication ------------------------------------------------------------------------

def test_wrong_secret_is_signature_does_not_match(s3info):
    bad = client(s3info["endpoint"], s3info["access_key"], s3info["secret_key"] + "x")
    with pytest.raises(ClientError) as e:
        bad.list_buckets()
    assert code_of(e) == "SignatureDoesNotMatch" and status_of(e) == 403


def test_unknown_access_key_is_invalid_access_key_id(s3info):
    bad = client(s3info["endpoint"], "HSUNKNOWN0000000000X", "s" * 40)
    with pytest.raises(ClientError) as e:
        bad.list_buckets()
    assert code_of(e) == "InvalidAccessKeyId" and status_of(e) == 403


def test_a_signature_for_another_region_is_accepted(s3info):
    """s3cmd signs for "US" by default; the region is signed, so it is still verified."""
    ak, sk, ep = s3info["access_key"], s3info["secret_key"], s3info["endpoint"]
    for region in ("US", "eu-west-1"):
        assert signed_request("GET", f"{ep}/", ak, sk, region=region).status_code == 200
    r = signed_request("GET", f"{ep}/", ak, sk + "x", region="US")
    assert "<Code>SignatureDoesNotMatch</Code>" in r.text


def test_clock_skew_over_15_minutes_is_refused(s3info):
    ak, sk, ep = s3info["access_key"], s3info["secret_key"], s3info["endpoint"]
    assert signed_request("GET", f"{ep}/", ak, sk,
                          skew=datetime.timedelta(minutes=10)).status_code == 200
    for minutes in (-20, 20):
        r = signed_request("GET", f"{ep}/", ak, sk, skew=datetime.timedelta(minutes=minutes))
        assert r.status_code == 403 and "<Code>RequestTimeTooSkewed</Code>" in r.text, r.text


def test_presigned_urls_work_and_a_tampered_one_does_not(s3info, s3):
    b = name("pre")
    s3.create_bucket(Bucket=b)
    url = s3.generate_presigned_url("get_bucket_location", Params={"Bucket": b}, ExpiresIn=300)
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and "LocationConstraint" in r.text, r.text
    assert r.headers["x-amz-request-id"]
    sig = url.rsplit("X-Amz-Signature=", 1)[1][:64]
    bad = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    r = requests.get(bad, timeout=10)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    # the signature covers every query parameter
    r = requests.get(url + "&extra=1", timeout=10)
    assert r.status_code == 403
    s3.delete_bucket(Bucket=b)


def test_anonymous_is_denied_unless_the_bucket_is_public_read(cluster, s3info, s3):
    anon = client(s3info["endpoint"], None, None, signed=False)
    private, public = name("priv"), name("pub")
    s3.create_bucket(Bucket=private)
    cli(cluster, "bucket", "create", public, "--public-read")
    with pytest.raises(ClientError) as e:
        anon.list_buckets()
    assert code_of(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        anon.get_bucket_location(Bucket=private)
    assert code_of(e) == "AccessDenied"
    assert anon.get_bucket_location(Bucket=public)["ResponseMetadata"]["HTTPStatusCode"] == 200
    anon.head_bucket(Bucket=public)
    with pytest.raises(ClientError) as e:  # public-read is read: no writes
        anon.delete_bucket(Bucket=public)
    assert code_of(e) == "AccessDenied"
    s3.delete_bucket(Bucket=private)
    s3.delete_bucket(Bucket=public)


def test_read_only_key_cannot_write(cluster, s3info, s3):
    b = name("ro")
    s3.create_bucket(Bucket=b)
    ro = client(s3info["endpoint"], *new_key(cluster, "--read-only"))
    assert b in [x["Name"] for x in ro.list_buckets()["Buckets"]]
    ro.head_bucket(Bucket=b)
    for call in (lambda: ro.create_bucket(Bucket=name("ro")),
                 lambda: ro.delete_bucket(Bucket=b),
                 lambda: ro.put_object(Bucket=b, Key="k", Body=b"x")):
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) == "AccessDenied"
    s3.delete_bucket(Bucket=b)


def test_bucket_limited_key_sees_and_touches_only_its_buckets(cluster, s3info, s3):
    mine, other = name("mine"), name("other")
    s3.create_bucket(Bucket=other)
    lim = client(s3info["endpoint"], *new_key(cluster, "--buckets", mine))
    lim.create_bucket(Bucket=mine)
    assert [x["Name"] for x in lim.list_buckets()["Buckets"]] == [mine]
    for call in (lambda: lim.head_bucket(Bucket=other),
                 lambda: lim.get_bucket_location(Bucket=other),
                 lambda: lim.create_bucket(Bucket=name("third")),
                 lambda: lim.delete_bucket(Bucket=other)):
        with pytest.raises(ClientError) as e:
            call()
        assert status_of(e) == 403
    lim.delete_bucket(Bucket=mine)
    s3.delete_bucket(Bucket=other)


def test_removed_key_stops_working(cluster, s3info):
    ak, sk = new_key(cluster)
    gw_client = client(gw_s3_url(cluster, 1), ak, sk)  # straight to the second gateway
    gw_client.list_buckets()
    listed = cli(cluster, "key", "ls").stdout
    assert ak in listed and sk not in listed  # secrets are never listed
    cli(cluster, "key", "rm", ak)

    def refused():
        try:
            gw_client.list_buckets()
            return False
        except ClientError as e:
            return e.response["Error"]["Code"] == "InvalidAccessKeyId"
    wait_until(refused, timeout=10, what="the removed key to be refused")
    assert cli(cluster, "key", "rm", ak, check=False).returncode == 3


# ---- the CLI and the mapping ---------------------------------------------------------------

def test_bucket_cli_create_ls_rm_and_strategy(cluster, s3):
    b = name("cli")
    out = cli(cluster, "bucket", "create", b, "--strategy", "field_hybrid").stdout
    assert "field_hybrid" in out
    assert cli(cluster, "bucket", "create", b, check=False).returncode == 4
    assert cli(cluster, "bucket", "create", "Bad_Name", check=False).returncode == 1
    listed = json.loads(cli(cluster, "bucket", "ls", "--json").stdout)
    row = [x for x in listed["buckets"] if x["name"] == b][0]
    assert row["strategy"] == "field_hybrid" and row["public_read"] is False
    s3.head_bucket(Bucket=b)  # the S3 side sees it at once
    cli(cluster, "bucket", "rm", b)
    assert cli(cluster, "bucket", "rm", b, check=False).returncode == 3


# ---- --require-auth on the native APIs -----------------------------------------------------

def test_require_auth_closes_v1_and_ref_to_everyone_without_a_key(tmp_path_factory):
    c = HsCluster(str(tmp_path_factory.mktemp("s3auth")), nodes=3, gateways=1, healers=0,
                  extra_args=["--require-auth", "v1,ref"])
    c.start()
    try:
        gw = c.processes("gateway")[0]["url"]
        info = c.s3
        root = f"Bearer {info['access_key']}:{info['secret_key']}"
        assert requests.get(f"{gw}/health", timeout=10).status_code == 200  # probes stay open
        assert requests.put(f"{gw}/v1/objects/bkt1/k", data=b"x", timeout=10).status_code == 401
        assert requests.get(f"{gw}/read/bkt1/k", timeout=10).status_code == 401
        r = requests.put(f"{gw}/v1/objects/bkt1/k", data=b"x", headers={"Authorization": root},
                         timeout=30)
        assert r.status_code in (200, 201), r.text
        bad = f"Bearer {info['access_key']}:wrong"
        assert requests.get(f"{gw}/v1/objects/bkt1/k", headers={"Authorization": bad},
                            timeout=10).status_code == 401
        assert requests.get(f"{gw}/v1/objects/bkt1/k", headers={"Authorization": root},
                            timeout=10).content == b"x"
        # the cluster secret (what the CLI sends) still works
        assert requests.get(f"{gw}/v1/objects/bkt1/k",
                            headers={"Authorization": f"Bearer {c.secret}"},
                            timeout=10).status_code == 200
        # a read-only key limited to bucket bkt1 reads bkt1/..., nothing else
        ak, sk = new_key(c, "--read-only", "--buckets", "bkt1")
        ro = {"Authorization": f"Bearer {ak}:{sk}"}
        assert requests.get(f"{gw}/v1/objects/bkt1/k", headers=ro, timeout=10).status_code == 200
        assert requests.put(f"{gw}/v1/objects/bkt1/k", data=b"y", headers=ro,
                            timeout=10).status_code == 403
        assert requests.get(f"{gw}/v1/objects/bkt2/k", headers=ro, timeout=10).status_code == 403
        assert requests.get(f"{gw}/v1/objects?prefix=bkt1/", headers=ro,
                            timeout=10).status_code == 200
        assert requests.get(f"{gw}/v1/objects", headers=ro, timeout=10).status_code == 403
    finally:
        c.stop()


def test_without_require_auth_v1_stays_open(cluster):
    gw = cluster.processes("gateway")[0]["url"]
    r = requests.put(f"{gw}/v1/objects/open/k", data=b"x", timeout=30)
    assert r.status_code in (200, 201)
    assert requests.delete(f"{gw}/v1/objects/open/k", timeout=30).status_code in (200, 204)


def test_root_key_survives_a_restart_of_the_data_dir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("s3restart"))
    c = HsCluster(d, nodes=3, gateways=1, healers=0)
    c.start()
    try:
        first = dict(c.s3)
        b = name("keep")
        client(first["endpoint"], first["access_key"], first["secret_key"]).create_bucket(Bucket=b)
        key_file = os.path.join(d, "s3-root-key")
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    finally:
        c.stop()
    c = HsCluster(d, nodes=3, gateways=1, healers=0, port=c.port)
    c.start()
    try:
        again = c.s3
        assert (again["access_key"], again["secret_key"]) == (first["access_key"],
                                                              first["secret_key"])
        s3 = client(again["endpoint"], again["access_key"], again["secret_key"])
        assert b in [x["Name"] for x in s3.list_buckets()["Buckets"]]
    finally:
        c.stop()


# ---- S3 and native objects are the same objects (needs the object handlers) ----------------

def put_object_of(s3, **kw):
    return s3.put_object(**kw)


def test_bucket_default_strategy_and_v1_patch_of_an_s3_json_object(cluster, s3):
    b = name("docs")
    cli(cluster, "bucket", "create", b, "--strategy", "field_hybrid")
    doc = {"title": "t", "like_count": 1, "body": "x" * 2000}  # compact: kept byte for byte
    put_object_of(s3, Bucket=b, Key="d/1.json", Body=json.dumps(doc, separators=(",", ":")).encode(),
                ContentType="application/json")
    gw = cluster.processes("gateway")[0]["url"]
    m = requests.get(f"{gw}/v1/manifests/{b}/d/1.json", timeout=10).json()
    assert m["strategy"] == "field_hybrid"
    r = requests.patch(f"{gw}/v1/objects/{b}/d/1.json", data=b'{"like_count": 2}',
                       headers={"Content-Type": "application/merge-patch+json"}, timeout=30)
    assert r.status_code == 200, r.text
    got = json.loads(s3.get_object(Bucket=b, Key="d/1.json")["Body"].read())
    assert got["like_count"] == 2 and got["body"] == doc["body"]
    # a storage class overrides the bucket's default
    put_object_of(s3, Bucket=b, Key="d/2.json", Body=json.dumps(doc, separators=(",", ":")).encode(),
                StorageClass="REDUCED_REDUNDANCY")
    m = requests.get(f"{gw}/v1/manifests/{b}/d/2.json", timeout=10).json()
    assert m["strategy"] == "replication"
    # the native CLI reads what S3 wrote
    out = cli(cluster, "get", f"{b}/d/2.json").stdout
    assert json.loads(out)["like_count"] == 1
    for k in ("d/1.json", "d/2.json"):
        s3.delete_object(Bucket=b, Key=k)
    s3.delete_bucket(Bucket=b)


def test_bucket_delete_racing_puts_loses_no_acknowledged_object(cluster, s3info, s3):
    """docs/s3.md "Deleting a bucket": a put acknowledged while the bucket is being deleted is
    kept as the native object b/k, whichever wins."""
    gw = cluster.processes("gateway")[0]["url"]
    writer = client(gw_s3_url(cluster, 1), s3info["access_key"], s3info["secret_key"])
    for _ in range(4):
        b = name("race")
        s3.create_bucket(Bucket=b)
        acked, refused = [], []

        def putter():
            for i in range(30):
                try:
                    writer.put_object(Bucket=b, Key=f"k{i}", Body=b"payload")
                    acked.append(f"k{i}")
                except ClientError as e:
                    refused.append(e.response["Error"]["Code"])

        t = threading.Thread(target=putter)
        t.start()
        deleted = False
        while t.is_alive() and not deleted:
            try:
                s3.delete_bucket(Bucket=b)
                deleted = True
            except ClientError as e:
                assert e.response["Error"]["Code"] == "BucketNotEmpty"
                # empty it so that the delete can win while the putter still runs
                for k in list(acked):
                    requests.delete(f"{gw}/v1/objects/{b}/{k}", timeout=30)
                    acked.remove(k)
        t.join()
        assert set(refused) <= {"NoSuchBucket"}, refused
        for k in acked:  # every acknowledged object is there, natively
            assert requests.get(f"{gw}/v1/objects/{b}/{k}", timeout=30).content == b"payload"
            requests.delete(f"{gw}/v1/objects/{b}/{k}", timeout=30)
        if not deleted:
            s3.delete_bucket(Bucket=b)


def test_metrics_name_each_s3_operation(cluster, s3info):
    c = client(gw_s3_url(cluster, 0), s3info["access_key"], s3info["secret_key"])
    c.list_buckets()
    with pytest.raises(ClientError):
        c.get_bucket_acl(Bucket=name("m"))  # no such operation: route "s3"
    gw = cluster.processes("gateway")[0]["url"]
    text = requests.get(f"{gw}/metrics", timeout=10).text
    assert 'route="s3:ListBuckets",status="200"' in text
    assert 'route="s3",status="501"' in text

"""Real S3 clients, unchanged, against a real cluster through nginx: Debian's awscli (high-level
`aws s3` and `aws s3api`), python3-boto3, rclone, s3cmd, and the newest @aws-sdk/client-s3 from
npm with its default flexible checksums. Each client writes, reads back byte-exact, lists and
deletes; objects written through S3 are the native objects `bucket/key`."""
import hashlib
import json
import os
import shutil
import socket
import subprocess

import boto3
import botocore.config
import botocore.exceptions
import pytest
import requests

from s3kit import aws, md5_file, rclone, s3_info, s3cmd, write_random, clean_env, NODE

from cluster import HsCluster

MIB = 1 << 20
JS_CLIENT = os.path.join(os.path.dirname(__file__), "s3_js_client.mjs")
ROOT_DOMAIN = "s3.hs.test"  # virtual-host style: bucket.s3.hs.test, resolved to 127.0.0.1 here


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """etcd, 6 nodes, 2 gateways behind nginx (the S3 endpoint in cluster.json is nginx's), with
    a root domain for virtual-host style clients (path style keeps working for every other
    Host)."""
    c = HsCluster(str(tmp_path_factory.mktemp("s3clients")), nodes=6, gateways=2, healers=0,
                  extra_args=["--s3-root-domain", ROOT_DOMAIN])
    c.start()
    yield c
    c.stop()


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def boto(cluster, **cfg):
    info = s3_info(cluster)
    return boto3.client("s3", endpoint_url=info["endpoint"], region_name=info["region"],
                        aws_access_key_id=info["access_key"],
                        aws_secret_access_key=info["secret_key"],
                        config=botocore.config.Config(retries={"max_attempts": 1}, **cfg))


def native_get(cluster, key):
    r = requests.get(f"{cluster.url}/v1/objects/{key}", timeout=30)
    r.raise_for_status()
    return r.content


def test_endpoint_is_in_cluster_json_and_private(cluster):
    info = s3_info(cluster)
    assert info["endpoint"].startswith("http://127.0.0.1:")
    assert info["region"] == "us-east-1"
    assert info["access_key"] and info["secret_key"]
    mode = os.stat(os.path.join(cluster.dir, "cluster.json")).st_mode & 0o777
    assert mode == 0o600


def test_awscli_cp_ls_rm_and_native_read(cluster, home, tmp_path):
    aws(cluster, home, "s3", "mb", "s3://cli-high")
    small, big = tmp_path / "small.txt", tmp_path / "big.bin"
    small.write_bytes(b"hello from aws s3 cp\n")
    big_md5 = write_random(big, 20 * MIB + 17, seed=1)  # 8 MiB chunks: a 3-part upload
    aws(cluster, home, "s3", "cp", str(small), "s3://cli-high/docs/small.txt")
    aws(cluster, home, "s3", "cp", str(big), "s3://cli-high/big.bin")
    assert native_get(cluster, "cli-high/docs/small.txt") == small.read_bytes()

    listing = aws(cluster, home, "s3", "ls", "--recursive", "s3://cli-high").stdout
    assert "docs/small.txt" in listing and "big.bin" in listing
    top = aws(cluster, home, "s3", "ls", "s3://cli-high/").stdout
    assert "PRE docs/" in top

    out = tmp_path / "out.bin"
    aws(cluster, home, "s3", "cp", "s3://cli-high/big.bin", str(out))
    assert md5_file(out) == big_md5

    head = aws(cluster, home, "s3api", "head-object", "--bucket", "cli-high", "--key",
               "big.bin").stdout
    assert '-3\\"' in head  # multipart ETag: md5-of-md5s-3

    aws(cluster, home, "s3", "rm", "--recursive", "s3://cli-high")
    assert aws(cluster, home, "s3", "ls", "--recursive", "s3://cli-high",
               check=False).stdout.strip() == ""
    aws(cluster, home, "s3", "rb", "s3://cli-high")


def test_awscli_sync(cluster, home, tmp_path):
    src = tmp_path / "tree"
    (src / "a" / "b").mkdir(parents=True)
    files = {"top.txt": b"top", "a/one.txt": b"one" * 100, "a/b/two.bin": os.urandom(70000),
             "a/with space.txt": b"space", "a/plus+sign.txt": b"plus",
             "a/unicod\u00e9.txt": b"unicode"}
    for name, data in files.items():
        (src / name).write_bytes(data)
    aws(cluster, home, "s3", "mb", "s3://cli-sync")
    aws(cluster, home, "s3", "sync", str(src), "s3://cli-sync/tree")
    for name, data in files.items():
        assert native_get(cluster, requests.utils.quote(f"cli-sync/tree/{name}")) == data

    again = aws(cluster, home, "s3", "sync", str(src), "s3://cli-sync/tree").stdout
    assert "upload:" not in again  # nothing changed, nothing sent

    (src / "a" / "one.txt").write_bytes(b"changed and longer")
    (src / "top.txt").unlink()
    out = aws(cluster, home, "s3", "sync", "--delete", str(src), "s3://cli-sync/tree").stdout
    assert "one.txt" in out and "delete: s3://cli-sync/tree/top.txt" in out

    back = tmp_path / "back"
    aws(cluster, home, "s3", "sync", "s3://cli-sync/tree", str(back))
    for name, data in files.items():
        if name == "top.txt":
            assert not (back / name).exists()
        elif name == "a/one.txt":
            assert (back / name).read_bytes() == b"changed and longer"
        else:
            assert (back / name).read_bytes() == data
    aws(cluster, home, "s3", "rb", "--force", "s3://cli-sync")


def test_awscli_s3api_multipart_and_copy(cluster, home, tmp_path):
    aws(cluster, home, "s3api", "create-bucket", "--bucket", "cli-api")
    part = tmp_path / "part"
    md5s = [write_random(part.with_suffix(f".{i}"), 5 * MIB + i, seed=10 + i) for i in (1, 2)]
    up = json.loads(aws(cluster, home, "s3api", "create-multipart-upload", "--bucket", "cli-api",
                        "--key", "mp/obj", "--metadata", "k=v").stdout)
    etags = []
    for n in (1, 2):
        res = json.loads(aws(cluster, home, "s3api", "upload-part", "--bucket", "cli-api",
                             "--key", "mp/obj", "--upload-id", up["UploadId"],
                             "--part-number", str(n), "--body",
                             str(part.with_suffix(f".{n}"))).stdout)
        assert res["ETag"] == f'"{md5s[n - 1]}"'
        etags.append(res["ETag"])
    listed = json.loads(aws(cluster, home, "s3api", "list-parts", "--bucket", "cli-api", "--key",
                            "mp/obj", "--upload-id", up["UploadId"]).stdout)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2]
    spec = {"Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags)]}
    aws(cluster, home, "s3api", "complete-multipart-upload", "--bucket", "cli-api", "--key",
        "mp/obj", "--upload-id", up["UploadId"], "--multipart-upload", json.dumps(spec))
    head = json.loads(aws(cluster, home, "s3api", "head-object", "--bucket", "cli-api", "--key",
                          "mp/obj").stdout)
    assert head["ContentLength"] == 10 * MIB + 3 and head["Metadata"] == {"k": "v"}
    assert head["ETag"].endswith('-2"')

    aws(cluster, home, "s3api", "copy-object", "--bucket", "cli-api", "--key", "copy",
        "--copy-source", "cli-api/mp/obj")
    out = tmp_path / "copy.out"
    aws(cluster, home, "s3api", "get-object", "--bucket", "cli-api", "--key", "copy", str(out))
    with open(out, "rb") as f:
        data = f.read()
    with open(part.with_suffix(".1"), "rb") as f1, open(part.with_suffix(".2"), "rb") as f2:
        assert data == f1.read() + f2.read()

    aws(cluster, home, "s3api", "delete-objects", "--bucket", "cli-api", "--delete",
        json.dumps({"Objects": [{"Key": "mp/obj"}, {"Key": "copy"}], "Quiet": True}))
    lst = json.loads(aws(cluster, home, "s3api", "list-objects-v2", "--bucket",
                         "cli-api").stdout or "{}")
    assert lst.get("KeyCount", 0) == 0
    aws(cluster, home, "s3api", "delete-bucket", "--bucket", "cli-api")


def test_boto3_transfer_with_crc32_parts(cluster, tmp_path):
    from boto3.s3.transfer import TransferConfig
    s3 = boto(cluster)
    s3.create_bucket(Bucket="boto-xfer")
    src = tmp_path / "src.bin"
    want = write_random(src, 13 * MIB + 5, seed=3)
    cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    s3.upload_file(str(src), "boto-xfer", "x/src.bin", Config=cfg,
                   ExtraArgs={"ChecksumAlgorithm": "CRC32", "ContentType": "application/x-b"})
    dst = tmp_path / "dst.bin"
    s3.download_file("boto-xfer", "x/src.bin", str(dst))
    assert md5_file(dst) == want
    head = s3.head_object(Bucket="boto-xfer", Key="x/src.bin")
    assert head["ContentType"] == "application/x-b" and head["ETag"].endswith('-3"')

    s3.put_object(Bucket="boto-xfer", Key="x/one", Body=b"1", ChecksumAlgorithm="SHA256")
    got = s3.get_object(Bucket="boto-xfer", Key="x/one", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"1" and "ChecksumSHA256" in got

    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="boto-xfer", PaginationConfig={
        "PageSize": 1})
    assert sorted(o["Key"] for p in pages for o in p.get("Contents", [])) == ["x/one",
                                                                             "x/src.bin"]
    s3.delete_objects(Bucket="boto-xfer", Delete={"Objects": [{"Key": "x/one"},
                                                              {"Key": "x/src.bin"}]})
    s3.delete_bucket(Bucket="boto-xfer")


def test_boto3_multipart_keeps_metadata_and_composite_checksum(cluster):
    """CreateMultipartUpload's user metadata and representation headers become the object's
    at Complete, and the COMPOSITE checksum of the parts is returned on HEAD/GET when asked."""
    s3 = boto(cluster)
    s3.create_bucket(Bucket="boto-mpmeta")
    up = s3.create_multipart_upload(Bucket="boto-mpmeta", Key="m", Metadata={"Color": "blue"},
                                    CacheControl="max-age=60", ContentDisposition="inline",
                                    ContentType="text/x-mp", ChecksumAlgorithm="CRC32")
    parts = []
    for n, data in ((1, os.urandom(5 * MIB)), (2, b"tail")):
        r = s3.upload_part(Bucket="boto-mpmeta", Key="m", UploadId=up["UploadId"],
                           PartNumber=n, Body=data, ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    s3.complete_multipart_upload(Bucket="boto-mpmeta", Key="m", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": parts})
    head = s3.head_object(Bucket="boto-mpmeta", Key="m", ChecksumMode="ENABLED")
    assert head["Metadata"] == {"color": "blue"}
    assert head["CacheControl"] == "max-age=60" and head["ContentDisposition"] == "inline"
    assert head["ContentType"] == "text/x-mp"
    assert head["ChecksumCRC32"].endswith("-2")
    s3.delete_object(Bucket="boto-mpmeta", Key="m")
    s3.delete_bucket(Bucket="boto-mpmeta")


def test_ranged_get_has_no_whole_object_checksum(cluster):
    """A 206 never carries the stored checksum (it is the whole object's): SDKs validating
    response checksums by default would fail every range."""
    s3 = boto(cluster)
    s3.create_bucket(Bucket="boto-range")
    data = os.urandom(10000)
    s3.put_object(Bucket="boto-range", Key="r", Body=data, ChecksumAlgorithm="CRC32")
    whole = s3.get_object(Bucket="boto-range", Key="r", ChecksumMode="ENABLED")
    assert whole["Body"].read() == data and "ChecksumCRC32" in whole
    part = s3.get_object(Bucket="boto-range", Key="r", Range="bytes=10-99",
                         ChecksumMode="ENABLED")
    assert part["Body"].read() == data[10:100] and "ChecksumCRC32" not in part
    head = s3.head_object(Bucket="boto-range", Key="r", Range="bytes=0-9",
                          ChecksumMode="ENABLED")
    assert "ChecksumCRC32" not in head
    s3.delete_object(Bucket="boto-range", Key="r")
    s3.delete_bucket(Bucket="boto-range")


def test_awscli_cp_between_buckets_uses_upload_part_copy(cluster, home, tmp_path):
    """`aws s3 cp s3://a/k s3://b/k` above the 8 MB threshold is a multipart copy: it asks
    for the source's tags (GetObjectTagging) and copies parts server-side (UploadPartCopy)."""
    aws(cluster, home, "s3", "mb", "s3://cli-cpa")
    aws(cluster, home, "s3", "mb", "s3://cli-cpb")
    src = tmp_path / "src.bin"
    want = write_random(src, 19 * MIB + 11, seed=21)
    aws(cluster, home, "s3", "cp", "--only-show-errors", str(src), "s3://cli-cpa/src.bin")
    res = aws(cluster, home, "--debug", "s3", "cp", "--only-show-errors",
              "s3://cli-cpa/src.bin", "s3://cli-cpb/dst.bin")
    assert "OperationModel(name=UploadPartCopy)" in res.stderr
    assert "OperationModel(name=GetObjectTagging)" in res.stderr
    head = json.loads(aws(cluster, home, "s3api", "head-object", "--bucket", "cli-cpb", "--key",
                          "dst.bin").stdout)
    assert head["ContentLength"] == 19 * MIB + 11 and head["ETag"].endswith('-3"')
    out = tmp_path / "dst.out"
    aws(cluster, home, "s3", "cp", "--only-show-errors", "s3://cli-cpb/dst.bin", str(out))
    assert md5_file(out) == want
    assert hashlib.md5(native_get(cluster, "cli-cpb/dst.bin")).hexdigest() == want
    aws(cluster, home, "s3", "rb", "--force", "s3://cli-cpa")
    aws(cluster, home, "s3", "rb", "--force", "s3://cli-cpb")


def test_object_tagging_is_empty_and_read_only(cluster):
    """Objects have no tags: GetObjectTagging answers an empty TagSet (NoSuchKey for a missing
    key); setting tags is not offered (501)."""
    s3 = boto(cluster)
    s3.create_bucket(Bucket="boto-tags")
    s3.put_object(Bucket="boto-tags", Key="t", Body=b"x")
    assert s3.get_object_tagging(Bucket="boto-tags", Key="t")["TagSet"] == []
    assert s3.get_object_tagging(Bucket="boto-tags", Key="t", VersionId="null")["TagSet"] == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object_tagging(Bucket="boto-tags", Key="missing")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object_tagging(Bucket="boto-tags", Key="t",
                              Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert e.value.response["Error"]["Code"] == "NotImplemented"
    s3.delete_object(Bucket="boto-tags", Key="t")
    s3.delete_bucket(Bucket="boto-tags")


def test_rclone_multipart_check_and_head_version_null(cluster, home, tmp_path):
    """rclone with a 5 MiB upload cutoff: multipart uploads carrying its MD5 in
    x-amz-meta-md5chksum (what `rclone check` compares for multipart objects), and the
    HEAD ?versionId=null newer rclones send after a multipart upload."""
    src = tmp_path / "rcmp"
    src.mkdir()
    want = write_random(src / "multi.bin", 11 * MIB + 7, seed=22)
    flags = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"]
    rclone(cluster, home, "mkdir", "hs:rclone-mp")
    rclone(cluster, home, *flags, "copy", str(src), "hs:rclone-mp/d")
    rclone(cluster, home, "check", str(src), "hs:rclone-mp/d")
    s3 = boto(cluster)
    head = s3.head_object(Bucket="rclone-mp", Key="d/multi.bin", VersionId="null")
    assert head["ETag"].endswith('-3"') and "VersionId" not in head
    assert head["Metadata"].get("md5chksum")  # rclone's own MD5 of the whole file
    back = tmp_path / "rcmp-back"
    rclone(cluster, home, "copy", "hs:rclone-mp/d", str(back))
    assert md5_file(back / "multi.bin") == want
    rclone(cluster, home, "purge", "hs:rclone-mp")


@pytest.fixture
def resolve_root_domain(monkeypatch):
    """*.ROOT_DOMAIN (and ROOT_DOMAIN) resolve to 127.0.0.1 in this process."""
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if isinstance(host, str) and (host == ROOT_DOMAIN or host.endswith("." + ROOT_DOMAIN)):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_boto3_virtual_host_style(cluster, resolve_root_domain, tmp_path):
    """boto3 with addressing_style virtual against http://ROOT_DOMAIN:port: the bucket is in
    the Host (signed with its port), the whole path is the key."""
    info = s3_info(cluster)
    endpoint = info["endpoint"].replace("127.0.0.1", ROOT_DOMAIN)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=info["region"],
                      aws_access_key_id=info["access_key"],
                      aws_secret_access_key=info["secret_key"],
                      config=botocore.config.Config(s3={"addressing_style": "virtual"},
                                                    retries={"max_attempts": 1}))
    hosts = set()
    s3.meta.events.register("before-send.s3", lambda request, **kw: hosts.add(
        request.url.split("//", 1)[1].split("/", 1)[0]))
    s3.create_bucket(Bucket="boto-vhost")
    key = "dir/with space+plus/é.txt"
    s3.put_object(Bucket="boto-vhost", Key=key, Body=b"virtual")
    assert s3.get_object(Bucket="boto-vhost", Key=key)["Body"].read() == b"virtual"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="boto-vhost")["Contents"]] == [key]
    src = tmp_path / "vh.bin"
    want = write_random(src, 11 * MIB, seed=23)
    from boto3.s3.transfer import TransferConfig
    s3.upload_file(str(src), "boto-vhost", "big", Config=TransferConfig(
        multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB))
    dst = tmp_path / "vh.out"
    s3.download_file("boto-vhost", "big", str(dst))
    assert md5_file(dst) == want
    assert native_get(cluster, requests.utils.quote("boto-vhost/" + key)) == b"virtual"
    s3.delete_objects(Bucket="boto-vhost", Delete={"Objects": [{"Key": key}, {"Key": "big"}]})
    s3.delete_bucket(Bucket="boto-vhost")
    port = endpoint.rsplit(":", 1)[1]
    assert f"boto-vhost.{ROOT_DOMAIN}:{port}" in hosts, hosts


def test_rclone_copy_check_sync(cluster, home, tmp_path):
    src = tmp_path / "rc"
    (src / "sub").mkdir(parents=True)
    for i in range(5):
        (src / f"f{i}.txt").write_bytes(os.urandom(1000 * (i + 1)))
    write_random(src / "sub" / "large.bin", 7 * MIB, seed=4)
    rclone(cluster, home, "mkdir", "hs:rclone-b")
    rclone(cluster, home, "copy", str(src), "hs:rclone-b/data")
    rclone(cluster, home, "check", str(src), "hs:rclone-b/data")
    listed = rclone(cluster, home, "lsf", "-R", "hs:rclone-b/data").stdout.split()
    assert "sub/large.bin" in listed and "f0.txt" in listed

    (src / "f0.txt").unlink()
    (src / "f1.txt").write_bytes(b"rewritten")
    rclone(cluster, home, "sync", str(src), "hs:rclone-b/data")
    rclone(cluster, home, "check", str(src), "hs:rclone-b/data")
    assert "f0.txt" not in rclone(cluster, home, "lsf", "hs:rclone-b/data").stdout.split()

    back = tmp_path / "rc-back"
    rclone(cluster, home, "copy", "hs:rclone-b/data", str(back))
    rclone(cluster, home, "check", str(src), str(back))
    rclone(cluster, home, "purge", "hs:rclone-b")


def test_s3cmd_put_get_ls_del_multipart(cluster, home, tmp_path):
    s3cmd(cluster, home, "mb", "s3://s3cmd-b")
    small = tmp_path / "small.txt"
    small.write_bytes(b"s3cmd small object")
    big = tmp_path / "big.bin"
    want = write_random(big, 12 * MIB + 3, seed=5)
    s3cmd(cluster, home, "put", str(small), "s3://s3cmd-b/small.txt")
    s3cmd(cluster, home, "put", "--multipart-chunk-size-mb=5", str(big), "s3://s3cmd-b/big.bin")
    ls = s3cmd(cluster, home, "ls", "s3://s3cmd-b/").stdout
    assert "s3://s3cmd-b/small.txt" in ls and "s3://s3cmd-b/big.bin" in ls
    out = tmp_path / "big.out"
    s3cmd(cluster, home, "get", "s3://s3cmd-b/big.bin", str(out))
    assert md5_file(out) == want
    out2 = tmp_path / "small.out"
    s3cmd(cluster, home, "get", "s3://s3cmd-b/small.txt", str(out2))
    assert out2.read_bytes() == small.read_bytes()
    s3cmd(cluster, home, "del", "s3://s3cmd-b/small.txt", "s3://s3cmd-b/big.bin")
    s3cmd(cluster, home, "rb", "s3://s3cmd-b")


@pytest.mark.parametrize("style", ["path", "virtual"])
def test_js_sdk_newest_defaults(cluster, home, style):
    """The whole script once with forcePathStyle, once with the SDK's default virtual-host
    addressing (bucket.ROOT_DOMAIN:port, resolved to 127.0.0.1 by the script's agent)."""
    modules = os.environ.get("HS_S3_CLIENTS_DIR")
    assert modules, "HS_S3_CLIENTS_DIR unset: run through `make test` (scripts/s3-clients.sh)"
    for pkg in ("client-s3", "lib-storage"):
        assert os.path.isdir(os.path.join(modules, "node_modules", "@aws-sdk", pkg)), \
            f"@aws-sdk/{pkg} missing under {modules}: run scripts/s3-clients.sh {modules}"
    # ES modules resolve packages from the script's own directory: run a copy placed there.
    script = os.path.join(modules, "s3_js_client.mjs")
    shutil.copyfile(JS_CLIENT, script)
    info = s3_info(cluster)
    endpoint, extra = info["endpoint"], []
    if style == "virtual":
        endpoint = endpoint.replace("127.0.0.1", ROOT_DOMAIN)
        extra = [ROOT_DOMAIN]
    res = subprocess.run([NODE, script, endpoint, info["region"], info["access_key"],
                          info["secret_key"], "js-sdk-" + style] + extra, env=clean_env(home),
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, f"{res.stdout}\n{res.stderr}"
    assert "ok delete-bucket" in res.stdout
    assert f"ok addressing {'virtual-host' if style == 'virtual' else 'path'}" in res.stdout

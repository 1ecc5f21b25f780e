"""hsdata: create and inspect objects the way a gateway would, without a gateway: blobs through
the node API (cluster secret) and manifests / WAL records / repair marks straight into etcd's
JSON gateway, in the exact formats of include/hs/manifest.h. Shared by the healer tests.

    d = HsData(cluster)
    man = d.put_replicated("a/b", os.urandom(5000))         # 3 replicas on 3 live nodes
    man = d.put_ec("big", os.urandom(200_000), k=4, m=2)      # RS(4,2), parity as ISA-L computes it
    d.read_object("big") == data                              # from the blobs, checked by CRC
    d.problems("big") == []                                   # every blob on its node, len+CRC ok

EC parity: ISA-L's systematic Cauchy code, gf_gen_cauchy1_matrix (rows k..k+m-1: 1/(i ^ j) in
GF(2^8) with polynomial 0x11d), computed here with bytes.translate tables (fast enough for test
objects of a few MiB). Shard blob i is piece i of every stripe, concatenated (codec.h layout).
"""
import base64
import json
import os
import random
import time

import requests

ROOT = "/hybridstore/v1/"


# ---- CRC32C (Castagnoli) ---------------------------------------------------------------------

def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def _crc32c_py(data, crc=0):
    c = crc ^ 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _crc32c_isal():
    """ISA-L's crc32_iscsi through ctypes (the library the codec links; ~1000x faster than the
    Python loop), or None. It neither inverts input nor output: CRC32C = ~f(data, ~crc)."""
    try:
        import ctypes
        lib = ctypes.CDLL("libisal.so.2")
        fn = lib.crc32_iscsi
        fn.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
        fn.restype = ctypes.c_uint32
    except (OSError, AttributeError):
        return None

    def crc(data, init=0):
        return fn(bytes(data), len(data), init ^ 0xFFFFFFFF) ^ 0xFFFFFFFF
    return crc if crc(b"123456789") == 0xE3069283 == _crc32c_py(b"123456789") else None


crc32c = _crc32c_isal() or _crc32c_py


def crc_hex(data):
    return f"{crc32c(data):08x}"


# ---- GF(2^8) and the ISA-L Cauchy code -------------------------------------------------------

_EXP = [0] * 512
_LOG = [0] * 256


def _gf_init():
    x = 1
    for i in range(255):
        _EXP[i] = x
        _LOG[x] = i
        x <<= 1
        if x & 0x100:
            x ^= 0x11D
    for i in range(255, 512):
        _EXP[i] = _EXP[i - 255]


_gf_init()


def gf_mul(a, b):
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def gf_inv(a):
    return _EXP[255 - _LOG[a]]


def cauchy_parity_rows(k, m):
    """Rows k..k+m-1 of gf_gen_cauchy1_matrix(k + m, k)."""
    return [[gf_inv(i ^ j) for j in range(k)] for i in range(k, k + m)]


def _mul_table(c):
    return bytes(gf_mul(c, x) for x in range(256))


def ec_parity(pieces, m):
    """The m parity pieces of k equally long data pieces."""
    k, n = len(pieces), len(pieces[0])
    out = []
    for row in cauchy_parity_rows(k, m):
        acc = 0
        for coef, piece in zip(row, pieces):
            acc ^= int.from_bytes(piece.translate(_mul_table(coef)), "little")
        out.append(acc.to_bytes(n, "little"))
    return out


def ec_shards(data, k, m, stripe):
    """Shard blobs of an object (codec.h layout): for each stripe of `stripe` object bytes,
    k data pieces of ceil(b / k) bytes (zero-padded) + m parity pieces; blob i = piece i of
    every stripe."""
    assert stripe % k == 0
    shards = [bytearray() for _ in range(k + m)]
    for off in range(0, len(data), stripe):
        chunk = data[off:off + stripe]
        p = -(-len(chunk) // k)
        pieces = [chunk[i * p:(i + 1) * p].ljust(p, b"\0") for i in range(k)]
        for i, piece in enumerate(pieces + ec_parity(pieces, m)):
            shards[i] += piece
    return [bytes(s) for s in shards]


def ec_join(shards, k, size, stripe):
    """Inverse of ec_shards for the data shards only."""
    out = bytearray()
    pos = 0
    for off in range(0, size, stripe):
        b = min(stripe, size - off)
        p = -(-b // k)
        stripe_bytes = b"".join(shards[i][pos:pos + p] for i in range(k))
        out += stripe_bytes[:b]
        pos += p
    return bytes(out)


# ---- ids --------------------------------------------------------------------------------------

def new_txn_id():
    return f"{int(time.time() * 1000):012x}" + os.urandom(10).hex()


def blob_id(txn, part, segment, index):
    return f"{txn}.{part:x}.{segment:x}.{index:x}"


def b64(x):
    return base64.b64encode(x.encode() if isinstance(x, str) else x).decode()


def unb64(x):
    return base64.b64decode(x)


def prefix_end(prefix):
    raw = prefix.encode()
    return raw[:-1] + bytes([raw[-1] + 1])


# ---- the helper ---------------------------------------------------------------------------------

class HsData:
    def __init__(self, cluster=None, etcd=None, secret=None):
        self.etcd = etcd or cluster.etcd
        self.secret = secret or cluster.secret
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {self.secret}"

    # -- etcd --
    def _post(self, path, body):
        r = requests.post(self.etcd + path, json=body, timeout=10)
        r.raise_for_status()
        return r.json()

    def etcd_get(self, key):
        """(value bytes, mod_revision) or (None, 0)."""
        kvs = self._post("/v3/kv/range", {"key": b64(key)}).get("kvs", [])
        if not kvs:
            return None, 0
        return unb64(kvs[0].get("value", "")), int(kvs[0]["mod_revision"])

    def etcd_range(self, prefix):
        """{key: value bytes} under prefix."""
        out = self._post("/v3/kv/range", {"key": b64(prefix),
                                          "range_end": b64(prefix_end(prefix))})
        return {unb64(kv["key"]).decode(): unb64(kv.get("value", ""))
                for kv in out.get("kvs", [])}

    def etcd_put(self, key, value):
        return self._post("/v3/kv/put", {"key": b64(key), "value": b64(value)})

    def etcd_delete(self, key):
        return self._post("/v3/kv/deleterange", {"key": b64(key)})

    # -- nodes --
    def nodes(self):
        """{node id: url} of the registered (live) nodes."""
        regs = self.etcd_range(ROOT + "nodes/")
        return {k[len(ROOT + "nodes/"):]: json.loads(v)["url"] for k, v in regs.items()}

    def put_blob(self, url, bid, data, crc=None):
        r = self.http.put(f"{url}/v1/blobs/{bid}", data=data,
                          headers={"X-HS-CRC32C": crc or crc_hex(data)}, timeout=30)
        assert r.status_code == 201, (url, bid, r.status_code, r.text)

    def get_blob(self, url, bid):
        return self.http.get(f"{url}/v1/blobs/{bid}", timeout=30)

    def delete_blob(self, url, bid):
        return self.http.delete(f"{url}/v1/blobs/{bid}", timeout=30).status_code

    def listing(self, url, prefix=None):
        """{blob id: (size, crc hex)} of every blob on a node (paged)."""
        out, after = {}, ""
        while True:
            params = {"after": after, "limit": 10000}
            if prefix:
                params["prefix"] = prefix
            page = self.http.get(f"{url}/v1/blobs", params=params, timeout=30).json()
            out.update({b["id"]: (b["size"], b["crc32c"]) for b in page["blobs"]})
            if page["next_after"] is None:
                return out
            after = page["next_after"]

    def stats(self, url):
        return self.http.get(f"{url}/v1/stats", timeout=10).json()

    # -- objects --
    def _place(self, want, nodes=None):
        live = self.nodes()
        ids = list(nodes) if nodes else random.sample(sorted(live), want)
        assert len(ids) == want and len(set(ids)) == want, ids
        return ids, live

    @staticmethod
    def _manifest(key, strategy, data, txn, part):
        return {"v": 1, "key": key, "strategy": strategy, "size": len(data),
                "ctype": "application/octet-stream", "etag": crc_hex(data) + "-1", "ver": 1,
                "ctime_ms": int(time.time() * 1000), "txn": txn, "data": part}

    def put_replicated(self, key, data, replicas=3, nodes=None, segment_size=None, mark=False,
                       commit=True):
        """Writes replicas of every segment (blob ids <txn>.0.<seg>.<replica>) and commits the
        manifest (unless commit=False). Returns the manifest dict."""
        ids, live = self._place(replicas, nodes)
        txn = new_txn_id()
        seg_size = segment_size or max(len(data), 1)
        segs = []
        chunks = [data[o:o + seg_size] for o in range(0, len(data), seg_size)] or [b""]
        for s, chunk in enumerate(chunks):
            crc = crc_hex(chunk)
            blobs = []
            for r, node in enumerate(ids):
                bid = blob_id(txn, 0, s, r)
                self.put_blob(live[node], bid, chunk, crc)
                blobs.append({"id": bid, "node": node, "len": len(chunk), "crc": crc})
            segs.append({"len": len(chunk), "crc": crc, "blobs": blobs})
        if len(data) == 0:
            segs = []
        man = self._manifest(key, "replication", data, txn,
                             {"len": len(data), "replicas": replicas, "segs": segs})
        if commit:
            self.commit(man, mark)
        return man

    def put_ec(self, key, data, k=4, m=2, nodes=None, stripe=None, mark=False, commit=True):
        """One segment RS(k, m): shard i on nodes[i] (blob ids <txn>.0.0.<i>)."""
        ids, live = self._place(k + m, nodes)
        txn = new_txn_id()
        stripe = stripe or 64 * k * 4096  # 1 MiB for k = 4, as hs_codec_stripe_bytes_for
        shards = ec_shards(data, k, m, stripe)
        blobs = []
        for i, (node, shard) in enumerate(zip(ids, shards)):
            bid = blob_id(txn, 0, 0, i)
            crc = crc_hex(shard)
            self.put_blob(live[node], bid, shard, crc)
            blobs.append({"id": bid, "node": node, "len": len(shard), "crc": crc})
        seg = {"len": len(data), "crc": crc_hex(data), "blobs": blobs}
        man = self._manifest(key, "ec", data, txn,
                             {"len": len(data), "k": k, "m": m, "stripe": stripe // k,
                              "segs": [seg]})
        if commit:
            self.commit(man, mark)
        return man

    def commit(self, man, mark=False):
        self.etcd_put(ROOT + "meta/" + man["key"], json.dumps(man, separators=(",", ":")))
        if mark:
            self.mark_repair(man["key"], man["txn"])

    def commit_many(self, mans, mark=False):
        """Every manifest (and its repair mark) in ONE etcd txn: a healer pass sees all or
        none of them."""
        ops = []
        for man in mans:
            ops.append({"request_put": {"key": b64(ROOT + "meta/" + man["key"]),
                                        "value": b64(json.dumps(man, separators=(",", ":")))}})
            if mark:
                value = json.dumps({"txn": man["txn"], "ms": int(time.time() * 1000),
                                    "reason": "degraded"}, separators=(",", ":"))
                ops.append({"request_put": {"key": b64(ROOT + "repair/" + man["key"]),
                                            "value": b64(value)}})
        out = self._post("/v3/kv/txn", {"success": ops})
        assert out.get("succeeded"), out

    def mark_repair(self, key, txn="0" * 32):
        value = json.dumps({"txn": txn, "ms": int(time.time() * 1000), "reason": "degraded"},
                           separators=(",", ":"))
        self.etcd_put(ROOT + "repair/" + key, value)

    def repair_marks(self):
        return sorted(k[len(ROOT + "repair/"):] for k in self.etcd_range(ROOT + "repair/"))

    def manifest(self, key):
        value, _ = self.etcd_get(ROOT + "meta/" + key)
        return json.loads(value) if value is not None else None

    def put_txn_record(self, txn, key, owner, blobs, start_ms=None):
        """WAL record (manifest.h): blobs = [(blob id, node id), ...]."""
        rec = {"v": 1, "state": "PENDING", "txn": txn, "key": key, "owner": owner,
               "start_ms": start_ms if start_ms is not None else int(time.time() * 1000),
               "blobs": [{"id": b, "node": n} for b, n in blobs]}
        self.etcd_put(ROOT + "txn/" + txn, json.dumps(rec, separators=(",", ":")))
        return rec

    @staticmethod
    def blobs_of(man):
        """[(segment, blob dict, part)] for every blob of a manifest."""
        out = []
        for part_name in ("data", "hot", "cold"):
            part = man.get(part_name)
            for seg in (part or {}).get("segs", []):
                out += [(seg, b, part) for b in seg["blobs"]]
        return out

    def problems(self, key, listings=None, live=None):
        """Why the object is not fully redundant ([] when it is): every blob must sit on a live
        node whose listing has it with the manifest's length and CRC, and the nodes of a
        segment must differ. listings: {node id: listing} and live (nodes()) to reuse across
        objects."""
        man = self.manifest(key)
        if man is None:
            return [f"{key}: no manifest"]
        live = live if live is not None else self.nodes()
        listings = listings if listings is not None else {}
        out = []
        for part_name in ("data", "hot", "cold"):
            for s, seg in enumerate((man.get(part_name) or {}).get("segs", [])):
                nodes = [b["node"] for b in seg["blobs"]]
                if len(set(nodes)) != len(nodes):
                    out.append(f"{key}: segment {s} has two blobs on one node: {nodes}")
                for b in seg["blobs"]:
                    if b["node"] not in live:
                        out.append(f"{key}: {b['id']} on absent node {b['node']}")
                        continue
                    if b["node"] not in listings:
                        listings[b["node"]] = self.listing(live[b["node"]])
                    have = listings[b["node"]].get(b["id"])
                    if have != (b["len"], b["crc"]):
                        out.append(f"{key}: {b['id']} on {b['node']}: {have} != "
                                   f"{(b['len'], b['crc'])}")
        return out

    def read_object(self, key):
        """The object's bytes, read from its blobs (replicas: first that answers; EC: the data
        shards), each checked against the manifest's CRCs."""
        man = self.manifest(key)
        live = self.nodes()
        part = man["data"]
        out = bytearray()
        for seg in part["segs"]:
            if "replicas" in part:
                for b in seg["blobs"]:
                    if b["node"] in live:
                        r = self.get_blob(live[b["node"]], b["id"])
                        if r.status_code == 200:
                            out += r.content
                            break
                else:
                    raise AssertionError(f"{key}: no replica readable")
            else:
                k = part["k"]
                shards = []
                for b in seg["blobs"][:k]:
                    r = self.get_blob(live[b["node"]], b["id"])
                    assert r.status_code == 200, (b, r.status_code)
                    assert crc_hex(r.content) == b["crc"]
                    shards.append(r.content)
                stripe = part["stripe"] * k
                out += ec_join(shards, k, seg["len"], stripe)
            assert crc_hex(bytes(out[-seg["len"]:] if seg["len"] else b"")) == seg["crc"]
        return bytes(out)


# ---- module-level helpers (the API test_healer_core.py uses) ------------------------------------

META, TXN, REPAIR = ROOT + "meta/", ROOT + "txn/", ROOT + "repair/"
NODES, GATEWAYS = ROOT + "nodes/", ROOT + "gateways/"
HEALER_LEADER = ROOT + "healer/leader"


class Etcd:
    """Thin client of etcd's JSON gateway: values in and out as text."""

    def __init__(self, endpoint):
        self.endpoint = endpoint

    def post(self, path, body):
        r = requests.post(self.endpoint + path, json=body, timeout=10)
        r.raise_for_status()
        return r.json()

    def get(self, key):
        """The value (str) or None."""
        kvs = self.post("/v3/kv/range", {"key": b64(key)}).get("kvs", [])
        return unb64(kvs[0].get("value", "")).decode() if kvs else None

    def get_kv(self, key):
        kvs = self.post("/v3/kv/range", {"key": b64(key)}).get("kvs", [])
        return kvs[0] if kvs else None

    def range(self, prefix):
        """{key: value (str)} under prefix."""
        out = self.post("/v3/kv/range", {"key": b64(prefix),
                                         "range_end": b64(prefix_end(prefix))})
        return {unb64(kv["key"]).decode(): unb64(kv.get("value", "")).decode()
                for kv in out.get("kvs", [])}

    def put(self, key, value):
        return self.post("/v3/kv/put", {"key": b64(key), "value": b64(value)})

    def delete(self, key):
        return self.post("/v3/kv/deleterange", {"key": b64(key)})

    def leader(self, name=HEALER_LEADER):
        """The election's leader kv, key and value decoded, or None."""
        try:
            kv = self.post("/v3/election/leader", {"name": b64(name)}).get("kv")
        except requests.HTTPError:
            return None
        if not kv:
            return None
        return dict(kv, key=unb64(kv["key"]).decode(), value=unb64(kv.get("value", "")).decode())


def metrics(url, timeout=5):
    """GET url/metrics (Prometheus text) as {name: number}; labelled samples keep their labels
    in the name."""
    r = requests.get(url + "/metrics", timeout=timeout)
    r.raise_for_status()
    out = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        v = float(value)
        out[name] = int(v) if v.is_integer() else v
    return out


def live_nodes(etcd):
    """{node id: url} of the registered nodes."""
    return {k[len(NODES):]: json.loads(v)["url"] for k, v in etcd.range(NODES).items()}


def txn_id(ms=None):
    ms = int(time.time() * 1000) if ms is None else ms
    return f"{ms:012x}" + os.urandom(10).hex()


def _session(secret):
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {secret}"
    return s


def put_blob(url, secret, bid, data):
    r = _session(secret).put(f"{url}/v1/blobs/{bid}", data=data,
                             headers={"X-HS-CRC32C": crc_hex(data)}, timeout=30)
    assert r.status_code == 201, (url, bid, r.status_code, r.text)


def has_blob(url, secret, bid):
    return _session(secret).head(f"{url}/v1/blobs/{bid}", timeout=10).status_code == 200


def get_blob(url, secret, bid):
    r = _session(secret).get(f"{url}/v1/blobs/{bid}", timeout=30)
    return r.content if r.status_code == 200 else None


def delete_blob(url, secret, bid):
    return _session(secret).delete(f"{url}/v1/blobs/{bid}", timeout=10).status_code


def write_blobs(nodes, secret, txn, data, node_ids):
    """One replica of data per node (blob ids <txn>.0.0.<i>): [(blob id, node id)]."""
    locs = []
    for i, n in enumerate(node_ids):
        bid = blob_id(txn, 0, 0, i)
        put_blob(nodes[n], secret, bid, data)
        locs.append((bid, n))
    return locs


def wal_record(txn, key, owner, locs, start_ms=None):
    """WAL record JSON (manifest.h) naming locs = [(blob id, node id)]."""
    rec = {"v": 1, "state": "PENDING", "txn": txn, "key": key, "owner": owner,
           "start_ms": start_ms if start_ms is not None else int(time.time() * 1000),
           "blobs": [{"id": b, "node": n} for b, n in locs]}
    return json.dumps(rec, separators=(",", ":"))


def manifest_replicated(key, data, locs, txn, ver=1):
    """Manifest JSON of a one-segment replicated object whose replicas are locs."""
    crc = crc_hex(data)
    seg = {"len": len(data), "crc": crc,
           "blobs": [{"id": b, "node": n, "len": len(data), "crc": crc} for b, n in locs]}
    man = {"v": 1, "key": key, "strategy": "replication", "size": len(data),
           "ctype": "application/octet-stream", "etag": f"{crc}-{ver}", "ver": ver,
           "ctime_ms": int(time.time() * 1000), "txn": txn,
           "data": {"len": len(data), "replicas": len(locs), "segs": [seg] if data else []}}
    return json.dumps(man, separators=(",", ":"))


def node_stats(url, secret):
    """GET url/v1/stats of a node (docs/node.md), parsed."""
    r = _session(secret).get(f"{url}/v1/stats", timeout=10)
    assert r.status_code == 200, (url, r.status_code, r.text)
    return r.json()

/* manifest.h - what etcd stores about objects: the etcd key layout, object manifests (value of
 * meta/<key>) and write-ahead records (value of txn/<id>), their JSON encoding and validation,
 * and the ids minted per write (txn ids, blob ids). Pure data: no etcd I/O here (see etcd.h).
 *
 * etcd key layout (every key under HS_META_ROOT; etcd keys are bytes, object keys go in as-is):
 *
 * | key                        | value                                  | builder              |
 * |----------------------------|----------------------------------------|----------------------|
 * | meta/<object-key>          | manifest JSON (below)                  | hs_meta_key_meta     |
 * | txn/<txn-id>               | write-ahead record JSON (below)        | hs_meta_key_txn      |
 * | retire/<txn-id>            | retire record JSON (below)             | hs_meta_key_retire   |
 * | repair/<object-key>        | repair mark JSON (below)               | hs_meta_key_repair   |
 * | nodes/<node-id>            | node registration (registration.h)     | hs_meta_key_node     |
 * | gateways/<gw-id>           | gateway registration (registration.h)  | hs_meta_key_gateway  |
 * | config/<name>              | cluster-wide setting                   | hs_meta_key_config   |
 * | layout/<collection>        | layout record JSON (layout.h)          | hs_meta_key_layout   |
 * | healer/leader              | election name                          | HS_META_KEY_HEALER_LEADER
 * | upload/<object-key>\x01<id> | multipart upload record (upload.h)     | hs_meta_key_upload   |
 * | upart/<upload-id>/<nnnnn>  | multipart part record (upload.h)       | hs_meta_key_upart    |
 * | s3keys/<access-key-id>     | S3 access key (s3_records.h)           | hs_meta_key_s3key    |
 * | s3buckets/<bucket>         | S3 bucket (s3_records.h)               | hs_meta_key_s3bucket |
 * |
 *
 * Identifiers:
 *
 * | what        | rule                                                                       |
 * |-------------|----------------------------------------------------------------------------|
 * | object key  | 1..1024 bytes of valid UTF-8 (no overlongs, no surrogates), no control      |
 * |             | characters (U+0000-U+001F, U+007F-U+009F)                                  |
 * | node id,    | 1..64 chars of [A-Za-z0-9._-], first char a letter or digit                |
 * | gateway id  |                                                                            |
 * | config name | 1..64 chars of [a-z0-9_.-], first char a letter or digit                   |
 * | txn id      | 16..32 chars of [0-9a-f]; minted ones are 32: 12 hex digits of the wall     |
 * |             | clock in ms (so ids sort by start time) + 20 hex digits from getrandom(2)   |
 * | blob id     | 1..200 chars of [0-9a-f.-], not starting with '.', no ".." (as blob.h);     |
 * |             | minted ones are "<txn-id>.<part>.<segment>.<index>", numbers in lower hex   |
 * |             | (part: 0 data, 1 hot, 2 cold; index: replica or shard index)                |
 *
 * Manifest JSON, format version 1 (compact, one object; fields in this order; no other field
 * is accepted; every integer is a JSON integer, never a string or a real):
 *
 * | field      | type    | meaning                                                         |
 * |------------|---------|-----------------------------------------------------------------|
 * | v          | int     | format version, 1 (another value: HS_EPROTO on decode)          |
 * | key        | string  | object key                                                      |
 * | strategy   | string  | "replication" \| "ec" \| "field_hybrid"                          |
 * | size       | int     | object size in bytes, 0..2^53-1 (what a GET returns)            |
 * | ctype      | string  | content type, 1..255 printable ASCII chars (0x20-0x7e)          |
 * | etag       | string  | 1..128 chars of %x21 / %x23-7E (RFC 9110 etagc; unquoted)        |
 * | ver        | int     | object version, >= 1, increases with every write of the key     |
 * | ctime_ms   | int     | creation time of this version, ms since the epoch, >= 0         |
 * | txn        | string  | txn id of the write that produced this version                  |
 * | data       | part    | replication (replicated part) and ec (ec part) only             |
 * | hot        | part    | field_hybrid only: replicated part holding the hot fields       |
 * | cold       | part    | field_hybrid only: ec part of the cold fields; absent when empty |
 * | cold_hash  | string  | field_hybrid only: 128-bit hash of the canonical cold part       |
 * |            |         | without its shadows (the members the document has cold), 32     |
 * |            |         | lower-case hex digits                                           |
 * | order_v    | int     | field_hybrid only: format version of the order record, 1..1000  |
 * |            |         | (split.h: 1, or 2 when the record names shadows)                |
 * | order      | array   | field_hybrid only: top-level field order, an array of strings   |
 * |            |         | (may hold \u0000), owned by the split module; handed back as the |
 * |            |         | same array, compact (escapes may be normalised by jansson)      |
 * | attrs      | object  | format version 2, optional (manifest_attrs.c): what an S3 client |
 * |            |         | stored beside the bytes, handed back on GET/HEAD; table below   |
 * | fdig       | string  | optional, format version 2 (manifest_fields.c), field_hybrid    |
 * |            |         | only: XXH3-64 digest of each top-level value (split.h           |
 * |            |         | hs_split_field), one per order entry (shadows left out) in that |
 * |            |         | order, 8 bytes                                                  |
 * |            |         | big-endian each, all as unpadded base64url; at most              |
 * |            |         | HS_MANIFEST_FDIG_MAX fields. The hot flags are the order's.      |
 *
 * Format version 2 = version 1 plus optional members, each owned by one file; a writer emits
 * "v": 2 only when it writes one of them (a manifest without them is written as version 1), and
 * version 1 forbids them. "attrs" (struct hs_manifest_attrs; every member optional, but the
 * object is never empty; written in this order; no other member accepted):
 *
 * | member   | type   | meaning                                                            |
 * |----------|--------|--------------------------------------------------------------------|
 * | cenc     | string | Content-Encoding                                                   |
 * | cctl     | string | Cache-Control                                                      |
 * | cdisp    | string | Content-Disposition                                                |
 * | clang    | string | Content-Language                                                   |
 * | expires  | string | Expires, as the client sent it (not parsed)                        |
 * |          |        | (each of the five: 1..HS_ATTR_VALUE_MAX bytes of UTF-8, no control |
 * |          |        | characters except tab)                                             |
 * | meta     | array  | user metadata [[name, value], ...]: names 1..128 chars of lower-case |
 * |          |        | [a-z0-9!#$%&'*+.^_`|~-] (the header after "x-amz-meta-"), unique,   |
 * |          |        | sorted; values 0..HS_ATTR_VALUE_MAX bytes as above; names plus values |
 * |          |        | at most HS_ATTRS_META_MAX bytes (S3's 2 KB: MetadataTooLarge)       |
 * | ck_alg   | string | flexible checksum the client sent and the write verified: "crc32" \| |
 * |          |        | "crc32c" \| "crc64nvme" \| "sha1" \| "sha256" (with ck)              |
 * | ck       | string | its value, base64 of the digest (8, 8, 12, 28, 44 chars)            |
 * | ck_type  | string | optional with ck: "FULL_OBJECT" \| "COMPOSITE" (multipart: a checksum |
 * |          |        | of the part checksums, then ck ends in "-<parts>")                   |
 *
 * The etag field of an S3 write holds the lower-case hex MD5 of the body (multipart:
 * "<hex>-<parts>"); native writes keep the txn id there.
 *
 * Version-1 code answers HS_EPROTO for "v": 2 (it leaves the record alone), never misreads
 * it; a "v": 1 record holding a version-2 member is HS_ECORRUPT. fdig is written only when the
 * cluster allows it (config/manifest-fields, docs/configuration.md).
 *
 * A part (replicated: "replicas"; ec: "k", "m", "stripe"):
 *
 * | field    | type  | meaning                                                             |
 * |----------|-------|---------------------------------------------------------------------|
 * | len      | int   | bytes of part data, 0..2^53-1 (replication/ec: equals size)          |
 * | replicas | int   | replicated only: copies of each segment, 1..16                       |
 * | k, m     | int   | ec only: data and parity shards per segment, 1..16 and 1..4          |
 * | stripe   | int   | ec only: bytes of one shard per stripe, 1..64 MiB                    |
 * | segs     | array | segments in data order; their len add up to the part's len            |
 *
 * A format version 2 member of a part (the version 2 rule above applies):
 *
 * | member (where)      | type   | meaning (owner file)                                       |
 * |---------------------|--------|------------------------------------------------------------|
 * | nodes, segz (part)  | array, | the part's segments packed instead of "segs" (hs_part      |
 * |                     | string | packed): node id table and base64 of the binary segment    |
 * |                     |        | records (manifest_packed.c has the layout); multipart      |
 * |                     |        | objects of up to 10 000 parts fit HS_MANIFEST_ENCODED_MAX |
 *
 * A segment (a large part is cut in segments, each replicated or coded on its own; a small
 * object has one): {"len": bytes of data (> 0, except that an empty part may have one empty
 * segment or none), "crc": CRC32C of the segment's data, "blobs": [blob, ...]}. Replicated:
 * exactly `replicas` blobs, each of length len and CRC crc. EC: exactly k+m blobs, blobs[i] is
 * shard i (0..k-1 data, k.. parity); all shards of a segment have the same length L with
 * ceil(len/k) <= L < ceil(len/k) + stripe. Within a segment all nodes differ. A (blob id, node
 * id) pair appears once in a manifest; the same blob id may sit on two nodes (a healer copy).
 *
 * A blob: {"id": blob id, "node": node id, "len": bytes, "crc": CRC32C of the blob payload}.
 * Every CRC32C is written as exactly 8 lower-case hex digits ("0a1b2c3d").
 *
 * Write-ahead record JSON, format version 2 (value of txn/<id>; deleted by commit/roll-back).
 * Its size does not depend on the object's size: blob ids derive from the txn id, so the record
 * names the nodes once and counts the segments each part may have stored so far (a writer
 * raises a count before it sends that segment's blobs):
 *
 * | field    | type   | meaning                                                            |
 * |----------|--------|--------------------------------------------------------------------|
 * | v        | int    | format version, 2                                                  |
 * | state    | string | "PENDING" (writing), "ABORTED" (the writer gave up: roll back now), |
 * |          |        | "ROLLED_BACK" (the healer is deleting its blobs; never commits)    |
 * | txn      | string | txn id (equals the <id> of the etcd key)                           |
 * | key      | string | object key being written                                           |
 * | owner    | string | gateway id of the writer                                           |
 * | start_ms | int    | wall clock ms when the write started, >= 0                         |
 * | alive_ms | int    | wall clock ms of the writer's last sign of progress, >= start_ms   |
 * | nodes    | array  | node ids, 1..HS_TXN_NODES_MAX: blob i of every segment is on       |
 * |          |        | nodes[i] (blobs with i >= the count of nodes were never placed)    |
 * | parts    | array  | [{"part": 0|1|2, "segs": segments named, "width": blobs per        |
 * |          |        | segment}], each part at most once                                  |
 *
 * The blobs a version 2 record names are <txn>.<part>.<seg>.<i> on nodes[i] for every part,
 * seg < segs and i < min(width, count of nodes); decode lists them in `blobs`.
 *
 * Version 1 (still decoded, never written): v 1, state "PENDING", no alive_ms/nodes/parts,
 * and "blobs": [{"id": blob id, "node": node id}, ...] every blob it may write.
 *
 * Retire record JSON, format version 1 (value of retire/<id>; <id> is the txn id of the write
 * or delete that replaced the blobs): the blobs a committed write or a delete no longer
 * references, put in the same etcd transaction as that commit. The healer's sweeper deletes
 * those of them that the key's current manifest does not reference once the grace has passed
 * (a reader holding the old manifest keeps working meanwhile), then the record.
 * A record names at most HS_RETIRE_BLOBS_MAX blobs (hs_retire_records_split): a version with
 * more is retired by several records, the first in the retiring transaction, the others put
 * just before it under ids of their own.
 *
 * | field | type   | meaning                                                               |
 * |-------|--------|-----------------------------------------------------------------------|
 * | v     | int    | format version, 1                                                     |
 * | key   | string | object key the blobs belonged to                                      |
 * | ms    | int    | wall clock ms when they were retired, >= 0                            |
 * | sets  | array  | [{"txn": txn id, or "" for ids not minted by a write, "blobs":         |
 * |       |        | [[rest of the id after "<txn>.", node id], ...]}, ...]: ids grouped by |
 * |       |        | the write that made them, so each costs ~25 bytes                      |
 *
 * Repair mark JSON (value of repair/<object-key>; src/meta/repair_mark.c): a gateway's note
 * that some blob of the object is missing or corrupt. The healer's repair pass works from the
 * key alone and deletes the mark once the object is whole; the value is for operators (`debug
 * manifest`). Written compact in this order; a reader ignores members it does not know (so a
 * newer writer may add some); encoded it is always shorter than HS_REPAIR_MARK_BUF.
 *
 * | field  | type   | meaning                                                               |
 * |--------|--------|-----------------------------------------------------------------------|
 * | txn    | string | optional: txn id of the write that committed degraded                 |
 * | ms     | int    | wall clock ms when marked, >= 0                                       |
 * | reason | string | "degraded" (a write committed with some blob missing) \| "degraded_read" |
 * |        |        | (a read found a blob missing or corrupt); another value: HS_EPROTO    |
 *
 * Limits: an encoded record is at most HS_MANIFEST_ENCODED_MAX bytes (etcd refuses requests
 * over 1.5 MiB by default); a version 2 record stays under 2 KB whatever the object's size.
 *
 * Errors: decode gives HS_EPROTO for a "v" it does not know (a newer writer: leave the record
 * alone) and HS_ECORRUPT for anything else that is not a valid record (bad JSON, wrong type,
 * out of range, inconsistent counts, unknown field, too large); encode gives HS_EINVAL for a
 * struct that does not validate and HS_ETOOBIG over the size limit. Every function taking
 * `why` writes a one-line reason there ("hot.segs[0].blobs[2].crc: want 8 lower-case hex
 * digits") on failure when why is not NULL; it is truncated to why_len.
 *
 * Memory: decoded structs own every pointer (heap); one _release frees them all. Encoded text
 * is a heap string (free()). Thread-safety: all functions are reentrant; none blocks except
 * hs_meta_txn_id_new (getrandom, never blocks after boot). */
#ifndef HS_MANIFEST_H
#define HS_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"

#define HS_META_ROOT              "/hybridstore/v1/"
#define HS_META_PREFIX_META       HS_META_ROOT "meta/"
#define HS_META_PREFIX_TXN        HS_META_ROOT "txn/"
#define HS_META_PREFIX_RETIRE     HS_META_ROOT "retire/"
#define HS_META_PREFIX_REPAIR     HS_META_ROOT "repair/"
#define HS_META_PREFIX_NODES      HS_META_ROOT "nodes/"
#define HS_META_PREFIX_GATEWAYS   HS_META_ROOT "gateways/"
#define HS_META_PREFIX_CONFIG     HS_META_ROOT "config/"
#define HS_META_PREFIX_LAYOUT     HS_META_ROOT "layout/" /* layout.h */
#define HS_META_KEY_HEALER_LEADER HS_META_ROOT "healer/leader"

/* Node id prefix of a blob that no live node could take when it was written (a degraded
 * write): no node holds it, and the healer places it at once ("unplaced-<index>"). */
#define HS_META_NODE_UNPLACED_PREFIX "unplaced-"

#define HS_MANIFEST_VERSION           1    /* written when no version-2 member is present */
#define HS_MANIFEST_VERSION_2         2    /* version 1 + optional members (table above) */
#define HS_MANIFEST_VERSION_MAX       2    /* decoded: 1..this */
#define HS_MANIFEST_FDIG_MAX          1024 /* fields a fdig member may cover */
#define HS_TXN_RECORD_VERSION         2    /* written; version 1 is still decoded */
#define HS_RETIRE_RECORD_VERSION      1
#define HS_TXN_NODES_MAX              20    /* nodes a record names: the widest segment */
#define HS_TXN_SEGS_MAX               16384 /* segments a record part may name */
#define HS_OBJECT_KEY_MAX             1024  /* bytes */
#define HS_NODE_ID_MAX                64    /* chars; also gateway ids */
#define HS_CONFIG_NAME_MAX            64    /* chars */
#define HS_TXN_ID_MIN                 16    /* chars */
#define HS_TXN_ID_MAX                 32    /* chars; minted ids have this length */
#define HS_TXN_ID_BUF                 (HS_TXN_ID_MAX + 1)
#define HS_META_BLOB_ID_MAX           200 /* chars; equals HS_BLOB_ID_MAX of blob.h */
#define HS_META_BLOB_ID_BUF           (HS_META_BLOB_ID_MAX + 1)
#define HS_CONTENT_TYPE_MAX           255                      /* chars */
#define HS_ETAG_MAX                   128                      /* chars */
#define HS_COLD_HASH_CHARS            32                       /* hex digits of a 128-bit hash */
#define HS_MANIFEST_SIZE_MAX          (((int64_t)1 << 53) - 1) /* bytes: exact in every JSON reader */
#define HS_MANIFEST_REPLICAS_MAX      16
#define HS_MANIFEST_K_MAX             16
#define HS_MANIFEST_M_MAX             4
#define HS_MANIFEST_STRIPE_MAX        ((int64_t)64 << 20) /* bytes per shard per stripe */
#define HS_MANIFEST_ORDER_VERSION_MAX 1000
#define HS_MANIFEST_ENCODED_MAX       ((size_t)1 << 20) /* bytes of encoded JSON (either record) */
#define HS_RETIRE_BLOBS_MAX           16384 /* blobs per retire record (hs_retire_records_split) */
#define HS_MANIFEST_VERSION_2         2     /* version 1 + optional members */
#define HS_ATTR_VALUE_MAX             2048  /* bytes of one attrs value */
#define HS_ATTRS_META_MAX             2048  /* bytes of user metadata names + values */
#define HS_ATTRS_META_NAME_MAX        128   /* chars of one user metadata name */

enum hs_strategy {
    HS_STRATEGY_REPLICATION = 1,
    HS_STRATEGY_EC = 2,
    HS_STRATEGY_FIELD_HYBRID = 3,
};

/* "replication", "ec", "field_hybrid"; NULL for any other value. */
const char *hs_strategy_name(enum hs_strategy s);
/* Exact, case-sensitive names above. false (out untouched) for anything else. */
bool hs_strategy_parse(const char *text, enum hs_strategy *out);

enum hs_part_kind {
    HS_PART_NONE = 0, /* unused part (zeroed) */
    HS_PART_REPLICATED = 1,
    HS_PART_EC = 2,
};

/* Which part of an object a blob belongs to: the <part> number of minted blob ids. */
enum hs_meta_blob_part {
    HS_META_PART_DATA = 0, /* the whole object: replication and ec */
    HS_META_PART_HOT = 1,
    HS_META_PART_COLD = 2,
};

struct hs_meta_blob_ref {
    char *blob_id;     /* heap */
    char *node_id;     /* heap */
    int64_t len_bytes; /* payload length of the blob */
    uint32_t crc32c;   /* CRC32C of the blob payload */
};

struct hs_segment {
    int64_t offset_bytes;           /* offset of this segment in the part: set by decode and by
                                       hs_part_fix_offsets; not encoded, not validated */
    int64_t len_bytes;              /* bytes of part data in this segment */
    uint32_t crc32c;                /* CRC32C of those data bytes (before coding) */
    struct hs_meta_blob_ref *blobs; /* heap; replicas, or shards in shard-index order */
    size_t n_blobs;
};

struct hs_part {
    enum hs_part_kind kind;
    int64_t len_bytes;           /* bytes of data in the part */
    uint32_t replicas;           /* HS_PART_REPLICATED: blobs per segment */
    uint32_t k, m;               /* HS_PART_EC: data and parity shards per segment */
    int64_t stripe_bytes;        /* HS_PART_EC: bytes of one shard per stripe */
    struct hs_segment *segments; /* heap */
    size_t n_segments;
    bool packed; /* encoded as "nodes" + "segz" (format version 2, manifest_packed.c); set by
                    decode from a packed part and copied by hs_part_copy */
};

/* The optional "attrs" member (format version 2, table above; manifest_attrs.c). Every string
 * is heap or NULL (absent). */
struct hs_manifest_meta {
    char *name;  /* lower-case, without "x-amz-meta-" */
    char *value; /* may be "" */
};
struct hs_manifest_attrs {
    char *content_encoding;
    char *cache_control;
    char *content_disposition;
    char *content_language;
    char *expires;
    struct hs_manifest_meta *meta; /* heap; sorted by name, names unique */
    size_t n_meta;
    char *checksum_alg;  /* "crc32" ... "sha256", with checksum */
    char *checksum;      /* base64 digest */
    char *checksum_type; /* NULL, "FULL_OBJECT" or "COMPOSITE" */
};

struct hs_manifest {
    char *key; /* object key, NUL-terminated (heap) */
    enum hs_strategy strategy;
    int64_t size_bytes;          /* object size */
    char *content_type;          /* heap */
    char *etag;                  /* heap, unquoted */
    int64_t version;             /* >= 1 */
    int64_t created_ms;          /* wall clock, ms since the epoch */
    char *txn_id;                /* heap: the write that produced this version */
    struct hs_part data;         /* replication: HS_PART_REPLICATED; ec: HS_PART_EC; else NONE */
    struct hs_part hot;          /* field_hybrid: HS_PART_REPLICATED; else NONE */
    bool has_cold;               /* field_hybrid: the cold part is not empty */
    struct hs_part cold;         /* field_hybrid with has_cold: HS_PART_EC; else NONE */
    char *cold_hash;             /* field_hybrid: 32 lower-case hex digits (heap); else NULL */
    int32_t field_order_version; /* field_hybrid: order record format (split.h); else 0 */
    char *field_order_json;      /* field_hybrid: compact JSON array of strings (heap); else NULL */
    struct hs_manifest_attrs *attrs; /* version 2 "attrs" (heap), NULL when absent */
    char *field_digests;             /* v2 "fdig" (manifest_fields.c): heap text, or NULL: absent */
};

enum hs_txn_state {
    HS_TXN_PENDING = 1,     /* the writer is writing (or died: the healer judges) */
    HS_TXN_ABORTED = 2,     /* the writer gave up and could not clean up: roll back at once */
    HS_TXN_ROLLED_BACK = 3, /* the healer is deleting the blobs; can never commit */
};

/* One part of a version 2 record: segments [0, segs) of blob part `part` may exist, each of
 * `width` blobs. */
struct hs_txn_part {
    enum hs_meta_blob_part part;
    uint32_t segs;
    uint32_t width;
};

struct hs_txn_blob {
    char *blob_id; /* heap */
    char *node_id; /* heap */
};

struct hs_txn_record {
    enum hs_txn_state state;
    char *txn_id;                  /* heap */
    char *key;                     /* object key (heap) */
    char *owner_id;                /* gateway id (heap) */
    int64_t start_ms;              /* wall clock ms */
    int64_t version;               /* format version it was decoded from (encode writes 2) */
    int64_t alive_ms;              /* version 2: the writer's last sign of progress */
    char *nodes[HS_TXN_NODES_MAX]; /* version 2: heap ids; blob i is on nodes[i] */
    size_t n_nodes;
    struct hs_txn_part parts[3]; /* version 2, one per enum hs_meta_blob_part at most */
    size_t n_parts;
    /* Every blob the record names: version 1 lists them, version 2 derives them on decode
     * (and hs_txn_record_expand); encode ignores it for version 2. */
    struct hs_txn_blob *blobs; /* heap */
    size_t n_blobs;
};

/* The value of retire/<id> (format above). */
struct hs_retire_record {
    char *key;                 /* object key (heap) */
    int64_t retired_ms;        /* wall clock ms */
    struct hs_txn_blob *blobs; /* heap: full blob ids and their nodes */
    size_t n_blobs;
};

/* The value of repair/<object-key> (format above). */
enum hs_repair_reason {
    HS_REPAIR_DEGRADED_WRITE = 1, /* "degraded" */
    HS_REPAIR_DEGRADED_READ = 2,  /* "degraded_read" */
};
struct hs_repair_mark {
    enum hs_repair_reason reason;
    int64_t marked_ms;          /* wall clock ms */
    char txn_id[HS_TXN_ID_BUF]; /* "" = none */
};
#define HS_REPAIR_MARK_BUF 128 /* encoded text + NUL always fits */

/* A (blob, node) pair borrowed from a manifest or record: valid while that one lives. */
struct hs_meta_blob_loc {
    const char *blob_id;
    const char *node_id;
};

/* ---- identifiers and etcd keys (keys.c) ---- */

bool hs_meta_object_key_valid(const char *key, size_t len);
bool hs_meta_node_id_valid(const char *id); /* also gateway ids */
bool hs_meta_config_name_valid(const char *name);
bool hs_meta_txn_id_valid(const char *id);
/* Same rule as hs_blob_id_valid (blob.h); meta does not link the blob module. */
bool hs_meta_blob_id_valid(const char *id);

/* Heap etcd key (free()): HS_EINVAL (out untouched) when the name does not follow its rule.
 * The object key is a NUL-terminated string (object keys never contain NUL). */
enum hs_err hs_meta_key_meta(const char *object_key, char **out);
enum hs_err hs_meta_key_repair(const char *object_key, char **out);
enum hs_err hs_meta_key_txn(const char *txn_id, char **out);
enum hs_err hs_meta_key_retire(const char *txn_id, char **out);
enum hs_err hs_meta_key_node(const char *node_id, char **out);
enum hs_err hs_meta_key_gateway(const char *gateway_id, char **out);
enum hs_err hs_meta_key_config(const char *name, char **out);
/* The part of etcd_key after prefix (one of HS_META_PREFIX_*), borrowed from etcd_key, or NULL
 * when etcd_key does not start with prefix or nothing follows it. */
const char *hs_meta_key_strip(const char *etcd_key, const char *prefix);

/* A new txn id of HS_TXN_ID_MAX chars into out. HS_EIO when getrandom fails (logged). */
enum hs_err hs_meta_txn_id_new(char out[HS_TXN_ID_BUF]);
/* The start time encoded in a txn id minted by hs_meta_txn_id_new (advisory: the clock of
 * the gateway that minted it). false for an id that is not 32 hex chars. */
bool hs_meta_txn_id_time_ms(const char *txn_id, int64_t *ms_out);
/* "<txn-id>.<part>.<segment>.<index>" (lower hex) into out. HS_EINVAL on a bad txn id or part. */
enum hs_err hs_meta_blob_id_make(const char *txn_id, enum hs_meta_blob_part part, uint32_t segment,
                                 uint32_t index, char out[HS_META_BLOB_ID_BUF]);
/* Inverse of hs_meta_blob_id_make; HS_EINVAL (outs untouched) when blob_id is not in that
 * form. Any out pointer may be NULL. */
enum hs_err hs_meta_blob_id_parse(const char *blob_id, char txn_out[HS_TXN_ID_BUF],
                                  enum hs_meta_blob_part *part_out, uint32_t *segment_out,
                                  uint32_t *index_out);

/* ---- manifests (manifest.c, manifest_json.c, manifest_validate.c) ---- */

/* Zeroes m (an empty manifest that _release accepts). */
void hs_manifest_init(struct hs_manifest *m);
/* Frees everything m owns and zeroes it. NULL is fine. */
void hs_manifest_release(struct hs_manifest *m);

/* Builders for writers. init_* release p's old contents, then give it n_segments zeroed
 * segments with the right number of zeroed blobs each (fill them with hs_meta_blob_ref_set). */
void hs_part_init_replicated(struct hs_part *p, uint32_t replicas, size_t n_segments);
void hs_part_init_ec(struct hs_part *p, uint32_t k, uint32_t m, int64_t stripe_bytes,
                     size_t n_segments);
/* Deep copy (dst's old contents released): a pure hot update reuses the cold part. */
void hs_part_copy(struct hs_part *dst, const struct hs_part *src);
void hs_part_release(struct hs_part *p);
/* Sets every segment's offset_bytes from the lengths before it. */
void hs_part_fix_offsets(struct hs_part *p);
/* Replaces r's strings by copies of blob_id and node_id and sets the numbers. */
void hs_meta_blob_ref_set(struct hs_meta_blob_ref *r, const char *blob_id, const char *node_id,
                          int64_t len_bytes, uint32_t crc32c);

/* Checks every rule of the tables above. HS_EINVAL with a reason. */
enum hs_err hs_manifest_validate(const struct hs_manifest *m, char *why, size_t why_len);
/* Validates, then writes compact JSON: *out (heap, NUL-terminated, free()) and *len_out.
 * HS_EINVAL invalid struct, HS_ETOOBIG over HS_MANIFEST_ENCODED_MAX. */
enum hs_err hs_manifest_encode(const struct hs_manifest *m, char **out, size_t *len_out, char *why,
                               size_t why_len);
/* Parses and validates len bytes (need not be NUL-terminated). HS_EPROTO unknown version,
 * HS_ECORRUPT anything else wrong; out untouched on failure, owned by the caller on success
 * (hs_manifest_release). Never crashes or leaks on any input. */
enum hs_err hs_manifest_decode(const void *data, size_t len, struct hs_manifest *out, char *why,
                               size_t why_len);

/* Every (blob, node) pair m references, in part/segment/blob order: *out is a heap array
 * (free()) of pointers borrowed from m. *n_out may be 0 (then *out is still free()able). */
void hs_manifest_blob_locs(const struct hs_manifest *m, struct hs_meta_blob_loc **out,
                           size_t *n_out);
/* Every (blob, node) pair a packed part object names (its JSON text: "nodes" and "segz",
 * manifest_packed.c), decoded on its own and as far as it decodes: GC keeps the blobs of a
 * manifest it cannot decode as a whole (a newer format, a bad member elsewhere), and those of a
 * packed part hide in "segz". Nothing happens for text that is not a packed part. */
typedef void hs_blob_ref_fn(void *ctx, const char *blob_id, const char *node_id);
void hs_manifest_packed_each(const void *part_json, size_t len, hs_blob_ref_fn *fn, void *ctx);
/* The same for one part (a multipart upload's part record, upload.h). */
void hs_part_blob_locs(const struct hs_part *p, struct hs_meta_blob_loc **out, size_t *n_out);
/* True when m references blob_id on node_id. */
bool hs_manifest_references(const struct hs_manifest *m, const char *blob_id, const char *node_id);
/* The pairs of a that are not in b (a's order kept; pointers borrowed from a's owner): the
 * blobs of a replaced version that its successor no longer uses. *out: heap array (free()). */
void hs_meta_blob_locs_subtract(const struct hs_meta_blob_loc *a, size_t n_a,
                                const struct hs_meta_blob_loc *b, size_t n_b,
                                struct hs_meta_blob_loc **out, size_t *n_out);

/* ---- object attributes (manifest_attrs.c) ---- */

/* Heap copy of a (NULL: returns NULL); a copy of an empty set of attributes is NULL too. */
struct hs_manifest_attrs *hs_manifest_attrs_dup(const struct hs_manifest_attrs *a);
/* Frees a and everything it owns. NULL is fine. */
void hs_manifest_attrs_free(struct hs_manifest_attrs *a);
/* Frees what a owns and zeroes it (a itself stays: a struct you provide). NULL is fine. */
void hs_manifest_attrs_release(struct hs_manifest_attrs *a);
/* True when a is NULL or holds nothing (then it is not encoded). */
bool hs_manifest_attrs_empty(const struct hs_manifest_attrs *a);
/* The five optional header strings of struct hs_manifest_attrs, in encoding order: the HTTP
 * header, the manifest's JSON member and where the char * lives. One row per member, so adding
 * a header is a row. hs_manifest_attrs_str gives string i's slot, _str_get its value. */
#define HS_MANIFEST_ATTR_STRS 5
struct hs_manifest_attr_str {
    const char *header;
    const char *json;
    size_t off;
};
extern const struct hs_manifest_attr_str hs_manifest_attr_strs[HS_MANIFEST_ATTR_STRS];
char **hs_manifest_attrs_str(struct hs_manifest_attrs *a, size_t i);
const char *hs_manifest_attrs_str_get(const struct hs_manifest_attrs *a, size_t i);
/* Adds (name, value) to a's user metadata, keeping it sorted; name is lower-cased. HS_EINVAL
 * for a name or value outside the rules (why set), HS_EEXIST for a name already there (the
 * caller decides: S3 joins repeated headers with ","), HS_ETOOBIG when the names and values
 * would pass HS_ATTRS_META_MAX. a unchanged on error. */
enum hs_err hs_manifest_attrs_meta_add(struct hs_manifest_attrs *a, const char *name,
                                       const char *value, char *why, size_t why_len);
/* The value of user metadata `name` (exact, lower-case), NULL when absent. Borrowed from a. */
const char *hs_manifest_attrs_meta_get(const struct hs_manifest_attrs *a, const char *name);
/* Validates the table's rules (NULL is fine). HS_EINVAL with a reason. */
enum hs_err hs_manifest_attrs_validate(const struct hs_manifest_attrs *a, char *why,
                                       size_t why_len);
/* Base64 chars of a checksum algorithm's digest ("crc32" -> 8), 0 for an unknown name. */
size_t hs_manifest_checksum_b64_len(const char *alg);
/* ---- field digests, format version 2 (manifest_fields.c) ---- */

/* One top-level field of a field_hybrid object, from its order record and fdig. */
struct hs_manifest_field {
    char *name;      /* heap, unescaped, NUL-terminated (may also hold NUL: use name_len) */
    size_t name_len; /* bytes */
    bool hot;        /* stored in the hot part */
    bool has_digest; /* the manifest has fdig */
    uint64_t digest; /* its value's digest when has_digest */
};
/* The "v" encode writes for m: 2 when it holds a version-2 member (attrs, fdig, a packed part),
 * else 1. */
int hs_manifest_format_version(const struct hs_manifest *m);
/* fdig text of n digests (heap, free()); n <= HS_MANIFEST_FDIG_MAX. */
char *hs_manifest_fdig_encode(const uint64_t *digests, size_t n);
/* Digests of a fdig text: *out heap (free()), *n_out of them. HS_EINVAL (outs untouched) for
 * a text that is not exactly what hs_manifest_fdig_encode writes. */
enum hs_err hs_manifest_fdig_decode(const char *text, uint64_t **out, size_t *n_out);
/* The rules of fdig against m with n_order order entries; HS_OK when absent. */
enum hs_err hs_manifest_fdig_check(const struct hs_manifest *m, size_t n_order, char *why,
                                   size_t why_len);
/* m's fields in document order: *out heap array of *n_out (hs_manifest_fields_free).
 * HS_EINVAL when m is not field_hybrid, HS_ECORRUPT for an order record or fdig that does not
 * parse (a validated manifest always does). */
enum hs_err hs_manifest_fields_list(const struct hs_manifest *m, struct hs_manifest_field **out,
                                    size_t *n_out);
void hs_manifest_fields_free(struct hs_manifest_field *f, size_t n);
/* The field named (name, len bytes) in f[0..n), or NULL. */
const struct hs_manifest_field *hs_manifest_field_find(const struct hs_manifest_field *f, size_t n,
                                                       const void *name, size_t len);

/* ---- write-ahead records (manifest_txn.c) ---- */

void hs_txn_record_init(struct hs_txn_record *r);
void hs_txn_record_release(struct hs_txn_record *r);
/* Appends a copy of (blob_id, node_id) to r->blobs. */
void hs_txn_record_add_blob(struct hs_txn_record *r, const char *blob_id, const char *node_id);
/* Version 2 builders: copies node ids (n <= HS_TXN_NODES_MAX), and sets how many segments of
 * `part` (width blobs each) the record names (adds the part or raises/lowers its count). */
void hs_txn_record_set_nodes(struct hs_txn_record *r, const char *const *node_ids, size_t n);
void hs_txn_record_set_segs(struct hs_txn_record *r, enum hs_meta_blob_part part, uint32_t segs,
                            uint32_t width);
/* Version 2: rebuilds r->blobs from nodes and parts. */
void hs_txn_record_expand(struct hs_txn_record *r);
/* "PENDING", "ABORTED", "ROLLED_BACK"; NULL for other values. */
const char *hs_txn_state_name(enum hs_txn_state s);
enum hs_err hs_txn_record_validate(const struct hs_txn_record *r, char *why, size_t why_len);
/* Same contracts as the manifest functions. */
enum hs_err hs_txn_record_encode(const struct hs_txn_record *r, char **out, size_t *len_out,
                                 char *why, size_t why_len);
enum hs_err hs_txn_record_decode(const void *data, size_t len, struct hs_txn_record *out, char *why,
                                 size_t why_len);
/* r's pairs as borrowed locs (heap array, free()). */
void hs_txn_record_blob_locs(const struct hs_txn_record *r, struct hs_meta_blob_loc **out,
                             size_t *n_out);

/* ---- retire records (manifest_retire.c) ---- */

void hs_retire_record_init(struct hs_retire_record *r);
void hs_retire_record_release(struct hs_retire_record *r);
/* Appends copies of the n pairs to r->blobs. */
void hs_retire_record_add(struct hs_retire_record *r, const struct hs_meta_blob_loc *locs,
                          size_t n);
enum hs_err hs_retire_record_validate(const struct hs_retire_record *r, char *why, size_t why_len);
/* Same contracts as the manifest functions. */
enum hs_err hs_retire_record_encode(const struct hs_retire_record *r, char **out, size_t *len_out,
                                    char *why, size_t why_len);
enum hs_err hs_retire_record_decode(const void *data, size_t len, struct hs_retire_record *out,
                                    char *why, size_t why_len);

/* Retire records of n blobs of key (retire_split.c): *n_out heap JSON texts (*out, lengths in
 * *lens_out; free with hs_retire_records_free) of at most HS_RETIRE_BLOBS_MAX blobs each, so that
 * any number of blobs can be retired: the first goes in the retiring transaction, the others
 * are put before it under ids of their own. n 0: none. The locs must be valid (from validated
 * manifests or records): anything else is the caller's bug (HS_BUG). */
void hs_retire_records_split(const char *key, int64_t retired_ms,
                             const struct hs_meta_blob_loc *locs, size_t n, char ***out,
                             size_t **lens_out, size_t *n_out);
void hs_retire_records_free(char **texts, size_t *lens, size_t n);

/* ---- repair marks (repair_mark.c) ---- */

/* Writes m's JSON text and a NUL to out; returns its length (< HS_REPAIR_MARK_BUF). m must follow
 * the rules above (a known reason, marked_ms >= 0, txn_id "" or a valid txn id): anything else
 * is the caller's bug (HS_BUG). Never blocks. */
size_t hs_repair_mark_encode(const struct hs_repair_mark *m, char out[HS_REPAIR_MARK_BUF]);
/* HS_EPROTO for a reason it does not know (a newer writer), HS_ECORRUPT for anything else that
 * breaks the rules (members it does not know are ignored); why as for manifests. out is
 * untouched on failure. */
enum hs_err hs_repair_mark_decode(const void *data, size_t len, struct hs_repair_mark *out,
                                  char *why, size_t why_len);

#endif

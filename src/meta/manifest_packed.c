/* manifest_packed.c - the packed segment list of a part (manifest format version 2, member
 * "segz" with its node table "nodes"; include/hs/manifest.h has the table). A multipart object
 * of 10 000 parts has at least 10 000 segments, each written by its own transaction; spelled out
 * as JSON ({"len","crc","blobs":[{"id","node","len","crc"}...]}) one replicated segment costs
 * ~330 bytes and an RS 4+2 one ~650, so the manifest would not fit etcd's request limit. Packed,
 * a segment whose blob ids are the minted "<txn>.<part>.<seg>.<i>" costs ~26 bytes replicated
 * and ~57 bytes RS 4+2 before base64 (x 4/3): 10 000 segments stay under 0.8 MiB.
 *
 * Decoding expands the packed list into the ordinary struct hs_part (every segment and blob
 * reference spelled out, part->packed set), so readers, the healer and hs_manifest_blob_locs
 * see exactly what a version 1 manifest gives them; encoding packs whatever the struct holds
 * (a blob whose id is not derivable, e.g. one a repair re-placed under another id, is written
 * out in full for its segment), so a decode/modify/encode cycle keeps every reference.
 *
 * Binary layout of the base64 text of "segz", one record per segment in data order:
 *
 * | bytes        | meaning                                                               |
 * |--------------|-----------------------------------------------------------------------|
 * | 1 flags      | bit 0 NEWTXN: 16 bytes of txn id follow (32 hex digits)               |
 * |              | bit 1 SEGNO: a varint segment number follows (else: previous + 1, or   |
 * |              |   0 after NEWTXN)                                                     |
 * |              | bit 2 EXPLICIT: every blob id is spelled out (txn/part/seg unused)     |
 * |              | bits 3-4: the blob part number (0 data, 1 hot, 2 cold)                 |
 * |              | bits 5-7: zero                                                        |
 * | [16 txn]     | NEWTXN only                                                           |
 * | [varint seg] | SEGNO only                                                            |
 * | varint len   | data bytes of the segment                                             |
 * | 4 crc        | CRC32C of the segment's data, little endian                           |
 * | [varint L]   | ec only: bytes of every shard blob                                    |
 * | per blob i   | varint index into "nodes"; ec: 4 bytes CRC32C of the shard (LE);      |
 * |              | EXPLICIT: varint length + the id's bytes                              |
 *
 * Replicated blobs have the segment's len and crc (a rule of the format), so they cost one node
 * index each. A derived blob id is hs_meta_blob_id_make(txn, part, seg, i). Varints are
 * unsigned LEB128 of at most 9 bytes. Anything left over or missing: HS_ECORRUPT. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_int.h"
#include "hs/buf.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "manifest_int.h"
#include "hs/banned.h"

#define WHY(...) hs_meta_why(why, why_len, __VA_ARGS__)

#define F_NEWTXN   0x01u
#define F_SEGNO    0x02u
#define F_EXPLICIT 0x04u
#define F_PART_SH  3
#define F_RESERVED 0xe0u
#define TXN_RAW    16

/* ---- writing ---- */

static void put_bytes(struct hs_buf *b, const void *p, size_t n)
{
    if (hs_buf_append(b, p, n) != HS_OK)
        HS_BUG("unbounded buffer refused %zu bytes", n);
}

static void put_varint(struct hs_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        tmp[n++] = (uint8_t)(c | (v ? 0x80 : 0));
    } while (v);
    put_bytes(b, tmp, n);
}

static void put_u32(struct hs_buf *b, uint32_t v)
{
    uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put_bytes(b, t, 4);
}

/* A lower-case hex digit's value (derivable() checked the txn id: anything else is 0). */
static unsigned hexval(char c)
{
    return c >= '0' && c <= '9'   ? (unsigned)(c - '0')
           : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a') + 10
                                  : 0;
}

/* The node table: distinct node ids in order of first use. */
struct node_table {
    const char **ids;
    size_t n, cap;
};

static size_t node_index(struct node_table *t, const char *id)
{
    for (size_t i = t->n; i > 0; i--) /* recent ones first: segments reuse the same few */
        if (strcmp(t->ids[i - 1], id) == 0)
            return i - 1;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->ids = hs_xrealloc(t->ids, t->cap * sizeof *t->ids);
    }
    t->ids[t->n] = id;
    return t->n++;
}

/* True when every blob of s is "<txn>.<part>.<seg>.<i>" for one minted 32-digit txn, one part
 * and one segment number, blob i at index i; those go to txn/part/seg. */
static bool derivable(const struct hs_segment *s, char txn[HS_TXN_ID_BUF],
                      enum hs_meta_blob_part *part, uint32_t *seg)
{
    if (s->n_blobs == 0)
        return false;
    for (size_t i = 0; i < s->n_blobs; i++) {
        char t[HS_TXN_ID_BUF];
        enum hs_meta_blob_part p;
        uint32_t sg, idx;
        char again[HS_META_BLOB_ID_BUF];
        if (hs_meta_blob_id_parse(s->blobs[i].blob_id, t, &p, &sg, &idx) != HS_OK ||
            strlen(t) != HS_TXN_ID_MAX || idx != i ||
            (i > 0 && (strcmp(t, txn) != 0 || p != *part || sg != *seg)))
            return false;
        /* the id must be exactly what make gives back (no leading zeros, lower case) */
        if (hs_meta_blob_id_make(t, p, sg, idx, again) != HS_OK ||
            strcmp(again, s->blobs[i].blob_id) != 0)
            return false;
        if (i == 0) {
            memcpy(txn, t, HS_TXN_ID_BUF);
            *part = p;
            *seg = sg;
        }
    }
    return true;
}

struct pack_state {
    char txn[HS_TXN_ID_BUF]; /* "" before the first derived segment */
    uint32_t next_seg;
};

static void pack_segment(struct hs_buf *b, const struct hs_part *p, const struct hs_segment *s,
                         struct node_table *nodes, struct pack_state *st)
{
    char txn[HS_TXN_ID_BUF] = "";
    enum hs_meta_blob_part part = HS_META_PART_DATA;
    uint32_t seg = 0;
    unsigned flags = 0;
    if (!derivable(s, txn, &part, &seg)) {
        flags = F_EXPLICIT;
    } else {
        flags = (unsigned)part << F_PART_SH;
        uint32_t expect = st->next_seg;
        if (strcmp(txn, st->txn) != 0) {
            flags |= F_NEWTXN;
            expect = 0;
        }
        if (seg != expect)
            flags |= F_SEGNO;
        memcpy(st->txn, txn, sizeof txn);
        st->next_seg = seg + 1;
    }
    uint8_t f = (uint8_t)flags;
    put_bytes(b, &f, 1);
    if (flags & F_NEWTXN) {
        uint8_t raw[TXN_RAW];
        for (size_t i = 0; i < TXN_RAW; i++)
            raw[i] = (uint8_t)(hexval(txn[2 * i]) << 4 | hexval(txn[2 * i + 1]));
        put_bytes(b, raw, TXN_RAW);
    }
    if (flags & F_SEGNO)
        put_varint(b, seg);
    put_varint(b, (uint64_t)s->len_bytes);
    put_u32(b, s->crc32c);
    if (p->kind == HS_PART_EC)
        put_varint(b, s->n_blobs ? (uint64_t)s->blobs[0].len_bytes : 0);
    for (size_t i = 0; i < s->n_blobs; i++) {
        put_varint(b, node_index(nodes, s->blobs[i].node_id));
        if (p->kind == HS_PART_EC)
            put_u32(b, s->blobs[i].crc32c);
        if (flags & F_EXPLICIT) {
            size_t n = strlen(s->blobs[i].blob_id);
            put_varint(b, n);
            put_bytes(b, s->blobs[i].blob_id, n);
        }
    }
}

void hs_mj_packed_set(json_t *j, const struct hs_part *p)
{
    struct hs_buf b;
    hs_buf_init(&b, 0);
    struct node_table nodes = {0};
    struct pack_state st = {.txn = ""};
    for (size_t i = 0; i < p->n_segments; i++)
        pack_segment(&b, p, &p->segments[i], &nodes, &st);
    json_t *arr = json_array();
    for (size_t i = 0; i < nodes.n; i++)
        if (json_array_append_new(arr, hs_mj_string(nodes.ids[i])) != 0)
            HS_BUG("cannot append to a JSON array");
    hs_mj_set(j, "nodes", arr);
    char *text = hs_etcd_b64_encode(b.data ? (const void *)b.data : "", b.len);
    hs_mj_set(j, "segz", hs_mj_string(text));
    free(text);
    free(nodes.ids);
    hs_buf_release(&b);
}

/* ---- reading ---- */

struct reader {
    const uint8_t *p;
    size_t n, at;
};

static bool get_bytes(struct reader *r, void *out, size_t n)
{
    if (r->n - r->at < n)
        return false;
    memcpy(out, r->p + r->at, n);
    r->at += n;
    return true;
}

static bool get_varint(struct reader *r, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 63; shift += 7) {
        uint8_t c;
        if (!get_bytes(r, &c, 1))
            return false;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            if (v > max)
                return false;
            *out = v;
            return true;
        }
    }
    return false;
}

static bool get_u32(struct reader *r, uint32_t *out)
{
    uint8_t t[4];
    if (!get_bytes(r, t, 4))
        return false;
    *out = (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
    return true;
}

static bool unpack_segment(struct reader *r, struct hs_part *p, struct hs_segment *s,
                           char *const *nodes, size_t n_nodes, struct pack_state *st)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t f;
    uint64_t v;
    if (!get_bytes(r, &f, 1) || (f & F_RESERVED) || (f >> F_PART_SH & 3u) > HS_META_PART_COLD ||
        ((f & F_EXPLICIT) && (f & (F_NEWTXN | F_SEGNO))))
        return false;
    enum hs_meta_blob_part part = (enum hs_meta_blob_part)(f >> F_PART_SH & 3u);
    uint32_t seg = 0;
    if (!(f & F_EXPLICIT)) {
        if (f & F_NEWTXN) {
            uint8_t raw[TXN_RAW];
            if (!get_bytes(r, raw, TXN_RAW))
                return false;
            for (size_t i = 0; i < TXN_RAW; i++) {
                st->txn[2 * i] = hex[raw[i] >> 4];
                st->txn[2 * i + 1] = hex[raw[i] & 15];
            }
            st->txn[HS_TXN_ID_MAX] = '\0';
            st->next_seg = 0;
        } else if (st->txn[0] == '\0') {
            return false; /* a derived segment before any txn id */
        }
        seg = st->next_seg;
        if ((f & F_SEGNO) && (!get_varint(r, UINT32_MAX, &v) || !((seg = (uint32_t)v), true)))
            return false;
        st->next_seg = seg + 1;
    }
    if (!get_varint(r, (uint64_t)HS_MANIFEST_SIZE_MAX, &v))
        return false;
    s->len_bytes = (int64_t)v;
    if (!get_u32(r, &s->crc32c))
        return false;
    int64_t blob_len = s->len_bytes;
    size_t width = p->kind == HS_PART_EC ? (size_t)p->k + p->m : p->replicas;
    if (p->kind == HS_PART_EC) {
        if (!get_varint(r, (uint64_t)HS_MANIFEST_SIZE_MAX, &v))
            return false;
        blob_len = (int64_t)v;
    }
    s->blobs = hs_xcalloc(width, sizeof *s->blobs);
    for (size_t i = 0; i < width; i++) {
        uint32_t crc = s->crc32c;
        char id[HS_META_BLOB_ID_BUF];
        if (!get_varint(r, n_nodes ? n_nodes - 1 : 0, &v) || v >= n_nodes)
            return false;
        size_t node = (size_t)v;
        if (p->kind == HS_PART_EC && !get_u32(r, &crc))
            return false;
        if (f & F_EXPLICIT) {
            if (!get_varint(r, HS_META_BLOB_ID_MAX, &v) || v == 0 || !get_bytes(r, id, (size_t)v))
                return false;
            id[v] = '\0';
        } else if (hs_meta_blob_id_make(st->txn, part, seg, (uint32_t)i, id) != HS_OK) {
            return false;
        }
        hs_meta_blob_ref_set(&s->blobs[i], id, nodes[node], blob_len, crc);
        s->n_blobs++;
    }
    return true;
}

bool hs_mj_packed_from_json(const json_t *j, const char *path, struct hs_part *p, char *why,
                            size_t why_len)
{
    const json_t *jnodes = json_object_get(j, "nodes");
    const json_t *jsegz = json_object_get(j, "segz");
    if (!json_is_array(jnodes) || !json_is_string(jsegz)) {
        WHY("%s: a packed part needs \"nodes\" (array) and \"segz\" (string)", path);
        return false;
    }
    size_t n_nodes = json_array_size(jnodes);
    char **nodes = hs_xcalloc(n_nodes ? n_nodes : 1, sizeof *nodes);
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < n_nodes; i++) {
        const json_t *n = json_array_get(jnodes, i);
        if (!json_is_string(n) || !hs_meta_node_id_valid(json_string_value(n))) {
            WHY("%s.nodes[%zu]: not a node id", path, i);
            ok = false;
        } else {
            nodes[i] = hs_xstrdup(json_string_value(n));
        }
    }
    if (ok && hs_etcd_b64_decode(json_string_value(jsegz), json_string_length(jsegz), &raw,
                                 &raw_len) != HS_OK) {
        WHY("%s.segz: not base64", path);
        ok = false;
    }
    struct reader r = {.p = raw, .n = raw_len};
    struct pack_state st = {.txn = ""};
    size_t cap = 0;
    while (ok && r.at < r.n) {
        if (p->n_segments == cap) {
            cap = cap ? cap * 2 : 64;
            p->segments = hs_xrealloc(p->segments, cap * sizeof *p->segments);
        }
        struct hs_segment *s = &p->segments[p->n_segments++];
        memset(s, 0, sizeof *s);
        if (!unpack_segment(&r, p, s, nodes, n_nodes, &st)) {
            WHY("%s.segz: segment %zu is truncated or malformed", path, p->n_segments - 1);
            ok = false;
        }
    }
    p->packed = true;
    for (size_t i = 0; i < n_nodes; i++)
        free(nodes[i]);
    free(nodes);
    free(raw);
    return ok;
}

void hs_manifest_packed_each(const void *part_json, size_t len, hs_blob_ref_fn *fn, void *ctx)
{
    json_t *j = json_loadb(part_json, len, 0, NULL);
    if (!json_is_object(j) || !json_is_string(json_object_get(j, "segz"))) {
        json_decref(j);
        return;
    }
    struct hs_part p;
    memset(&p, 0, sizeof p);
    json_t *k = json_object_get(j, "k"), *m = json_object_get(j, "m");
    json_t *reps = json_object_get(j, "replicas");
    if (json_is_integer(k) && json_is_integer(m)) {
        p.kind = HS_PART_EC;
        p.k = (uint32_t)HS_MIN(HS_MAX(json_integer_value(k), 1), HS_MANIFEST_K_MAX);
        p.m = (uint32_t)HS_MIN(HS_MAX(json_integer_value(m), 1), HS_MANIFEST_M_MAX);
    } else {
        p.kind = HS_PART_REPLICATED;
        p.replicas = json_is_integer(reps) ? (uint32_t)HS_MIN(HS_MAX(json_integer_value(reps), 1),
                                                              HS_MANIFEST_REPLICAS_MAX)
                                           : 3;
    }
    /* what decodes before a malformed segment is still named */
    (void)hs_mj_packed_from_json(j, "part", &p, NULL, 0);
    for (size_t i = 0; i < p.n_segments; i++)
        for (size_t b = 0; b < p.segments[i].n_blobs; b++)
            fn(ctx, p.segments[i].blobs[b].blob_id, p.segments[i].blobs[b].node_id);
    hs_part_release(&p);
    json_decref(j);
}

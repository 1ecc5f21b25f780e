/* routes.c - the storage node's HTTP API (docs/node.md): one route table and its handlers.
 * Blob ids are checked before any path is built; PUT bodies stream into the blob writer as they
 * arrive; GET sends the verified payload straight from the file (sendfile). The store itself
 * (layout, fsync, CRC, quarantine) is the blob module's business. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "hs/blob.h"
#include "hs/buf.h"
#include "hs/clock.h"
#include "hs/http_client.h"
#include "hs/http_server.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "node/node_int.h"
#include "hs/banned.h"

#define LIST_LIMIT_DEFAULT 1000
#define LIST_LIMIT_MAX     10000
#define SMALL_GET_BYTES    ((int64_t)64 * 1024) /* GETs of smaller blobs are answered from memory */

static struct hs_node *node_of(struct hs_http_req *r)
{
    return hs_http_req_server_ctx(r);
}

static void count(atomic_int_fast64_t *c, int64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Every error answer of the node goes through here, so that stats count each kind. */
static void fail_status(struct hs_http_req *r, unsigned status, enum hs_err err, const char *what)
{
    count(&node_of(r)->counters.errors[err], 1);
    HS_LOG_DEBUG("node_request_failed", "req=%s path='%s' err=%s status=%u what='%s'",
                 hs_http_req_id(r), hs_http_req_path(r), hs_err_name(err), status, what);
    hs_http_respond_error_status(r, status, err, "%s", what);
}

static void fail(struct hs_http_req *r, enum hs_err err, const char *what)
{
    fail_status(r, (unsigned)hs_err_http_status(err), err, what);
}

bool hs_node_guard(struct hs_http_req *r)
{
    if (hs_http_req_bearer_matches(r, node_of(r)->secret))
        return true;
    fail(r, HS_EAUTH, "missing or wrong cluster secret (Authorization: Bearer)");
    return false;
}

/* The id from the path, or NULL after answering 400 (nothing touched the disk). */
static const char *blob_id(struct hs_http_req *r)
{
    const char *id = hs_http_req_rest(r);
    if (hs_blob_id_valid(id))
        return id;
    fail(r, HS_EINVAL, "invalid blob id: 1-200 chars of [0-9a-f.-], no leading '.', no '..'");
    return NULL;
}

/* ---- PUT /v1/blobs/<id> ---- */

/* X-HS-Deadline-Ms: the wall-clock instant (Unix ms) after which the writer no longer waits for
 * this PUT (docs/node.md). Node and writer are assumed to share a wall clock to well within the
 * writer's margin; the node applies none of its own. Absent: 0 (no deadline); false when
 * malformed. */
static bool put_deadline(struct hs_http_req *r, int64_t *deadline_ms)
{
    const char *text = hs_http_req_header(r, "X-HS-Deadline-Ms");
    *deadline_ms = 0;
    if (!text)
        return true;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '-' || text[0] == '+' || v <= 0)
        return false;
    *deadline_ms = v;
    return true;
}

struct put_state {
    struct hs_blob_writer *w; /* NULL once committed or aborted */
    int64_t len;              /* declared Content-Length */
    bool have_crc;
    uint32_t crc;
};

/* Runs when the request ends, also when the client vanished or timed out mid-body: the temp
 * file must not outlive the request. */
static void put_cleanup(void *p)
{
    struct put_state *st = p;
    if (st->w) {
        hs_blob_write_abort(st->w);
        st->w = NULL;
    }
}

static void put_start(struct hs_http_req *r)
{
    struct hs_node *n = node_of(r);
    const char *id = blob_id(r);
    if (!id)
        return;
    struct put_state *st = hs_arena_alloc(hs_http_req_arena(r), sizeof *st);
    const char *crc_text = hs_http_req_header(r, "X-HS-CRC32C");
    if (crc_text && !hs_http_crc32c_parse(crc_text, &st->crc)) {
        fail(r, HS_EINVAL, "X-HS-CRC32C must be 8 lower-case hex digits");
        return;
    }
    st->have_crc = crc_text != NULL;
    int64_t deadline_ms = 0;
    if (!put_deadline(r, &deadline_ms)) {
        fail(r, HS_EINVAL, "X-HS-Deadline-Ms must be a positive decimal Unix time in ms");
        return;
    }
    /* A request that waited past its deadline (in a queue, or while the node was stopped) is
     * refused before a byte is written: its writer has given up on it. */
    if (deadline_ms > 0 && hs_clock_wall_ms() > deadline_ms) {
        HS_LOG_WARN("blob_put_late", "req=%s id='%s' late_ms=%" PRId64, hs_http_req_id(r), id,
                    hs_clock_wall_ms() - deadline_ms);
        fail(r, HS_ETIMEDOUT, "the writer's deadline (X-HS-Deadline-Ms) passed");
        return;
    }
    if (!hs_http_req_content_length(r, &st->len)) {
        fail_status(r, 411, HS_EINVAL, "Content-Length required");
        return;
    }
    /* Refuse before reading a byte of the body. */
    if (n->max_blob_bytes > 0 && st->len > n->max_blob_bytes) {
        fail(r, HS_ETOOBIG, "blob larger than --max-blob-size");
        return;
    }
    enum hs_err err = hs_blob_write_begin(n->store, id, st->len, &st->w);
    if (err != HS_OK) {
        fail(r, err, "cannot start the blob write");
        return;
    }
    hs_blob_write_set_deadline(st->w, deadline_ms);
    hs_arena_defer(hs_http_req_arena(r), put_cleanup, st);
    hs_http_req_set_ctx(r, st);
}

static enum hs_err put_body(struct hs_http_req *r, const void *data, size_t len)
{
    struct put_state *st = hs_http_req_ctx(r);
    enum hs_err err = hs_blob_write_append(st->w, data, len);
    if (err != HS_OK) {
        put_cleanup(st); /* free the disk space now, not when the client finishes sending */
        fail(r, err, "cannot write the blob");
    }
    return err;
}

static void put_done(struct hs_http_req *r)
{
    struct hs_node *n = node_of(r);
    struct put_state *st = hs_http_req_ctx(r);
    struct hs_blob_writer *w = st->w;
    st->w = NULL; /* commit frees it in every case */
    enum hs_err err = hs_blob_write_commit(w, st->have_crc, st->crc);
    if (err == HS_ECORRUPT) {
        fail_status(r, 400, HS_ECORRUPT, "payload does not match X-HS-CRC32C");
        return;
    }
    if (err == HS_EEXIST) {
        fail(r, HS_EEXIST, "blob exists with different content");
        return;
    }
    if (err == HS_ETIMEDOUT) {
        fail(r, HS_ETIMEDOUT, "the writer's deadline (X-HS-Deadline-Ms) passed: not stored");
        return;
    }
    if (err != HS_OK) {
        fail(r, err, "cannot store the blob");
        return;
    }
    count(&n->counters.puts, 1);
    count(&n->counters.put_bytes, st->len);
    char body[64];
    int len = snprintf(body, sizeof body, "{\"size\":%" PRId64 "}", st->len);
    hs_http_respond_buf(r, 201, "application/json", body, (size_t)len);
}

/* ---- GET / HEAD /v1/blobs/<id> ---- */

static void add_crc_header(struct hs_http_req *r, uint32_t crc)
{
    char text[16];
    snprintf(text, sizeof text, "%08x", crc);
    hs_http_add_header(r, "X-HS-CRC32C", text);
}

static ssize_t never_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    (void)ctx, (void)pos, (void)buf, (void)max;
    return HS_HTTP_READ_ERROR; /* HEAD: libmicrohttpd sends headers only */
}

static void get_done(struct hs_http_req *r)
{
    struct hs_node *n = node_of(r);
    const char *id = blob_id(r);
    if (!id)
        return;
    int64_t len = 0;
    uint32_t crc = 0;
    if (hs_http_req_is_head(r)) {
        /* Header only: HEAD must stay cheap, the CRC is checked on GET and by the scrub. */
        enum hs_err err = hs_blob_stat(n->store, id, &len, &crc);
        if (err != HS_OK) {
            fail(r, err, err == HS_ENOENT ? "no such blob" : "cannot read the blob");
            return;
        }
        add_crc_header(r, crc);
        count(&n->counters.heads, 1);
        {
            hs_http_respond_callback(r, 200, "application/octet-stream", len, never_read, NULL,
                                     NULL);
            return;
        }
    }
    if (!hs_http_req_header(r, "Range")) {
        /* A small blob is read, checked and answered from memory: one pread, and the headers
         * and body leave in one send instead of a header read, a CRC pass and a sendfile. */
        uint8_t *data = NULL;
        enum hs_err err = hs_blob_read_small(n->store, id, SMALL_GET_BYTES, &data, &len, &crc);
        if (err == HS_OK) {
            add_crc_header(r, crc);
            count(&n->counters.gets, 1);
            count(&n->counters.get_bytes, len);
            hs_http_respond_take(r, 200, "application/octet-stream", data, (size_t)len);
            return;
        }
        if (err != HS_ETOOBIG) {
            fail(r, err,
                 err == HS_ECORRUPT ? "blob is corrupt (quarantined)"
                 : err == HS_ENOENT ? "no such blob"
                                    : "cannot read the blob");
            return;
        }
    }
    int fd = -1;
    int64_t off = 0;
    enum hs_err err = hs_blob_open_verified(n->store, id, &fd, &off, &len, &crc);
    if (err == HS_ECORRUPT) {
        fail(r, HS_ECORRUPT, "blob is corrupt (quarantined)");
        return;
    }
    if (err != HS_OK) {
        fail(r, err, err == HS_ENOENT ? "no such blob" : "cannot read the blob");
        return;
    }
    add_crc_header(r, crc);
    /* Range: the whole payload was verified above, so a ranged read is as trustworthy as a
     * whole one; the client cannot check the CRC (it covers the whole blob) but it need not. */
    struct hs_http_range range;
    if (hs_http_range_parse(hs_http_req_header(r, "Range"), &range)) {
        int64_t roff = 0, rlen = 0;
        char cr[80];
        if (!hs_http_range_resolve(&range, len, &roff, &rlen)) {
            close(fd);
            snprintf(cr, sizeof cr, "bytes */%" PRId64, len);
            hs_http_add_header(r, "Content-Range", cr);
            fail(r, HS_ERANGE, "range not satisfiable");
            return;
        }
        snprintf(cr, sizeof cr, "bytes %" PRId64 "-%" PRId64 "/%" PRId64, roff, roff + rlen - 1,
                 len);
        hs_http_add_header(r, "Content-Range", cr);
        count(&n->counters.gets, 1);
        count(&n->counters.get_bytes, rlen);
        hs_http_respond_fd(r, 206, "application/octet-stream", fd, off + roff, rlen);
        return;
    }
    count(&n->counters.gets, 1);
    count(&n->counters.get_bytes, len);
    hs_http_respond_fd(r, 200, "application/octet-stream", fd, off, len);
}

/* ---- DELETE /v1/blobs/<id> ---- */

static void delete_done(struct hs_http_req *r)
{
    struct hs_node *n = node_of(r);
    const char *id = blob_id(r);
    if (!id)
        return;
    enum hs_err err = hs_blob_delete(n->store, id);
    if (err != HS_OK) {
        fail(r, err, err == HS_ENOENT ? "no such blob" : "cannot delete the blob");
        return;
    }
    count(&n->counters.deletes, 1);
    hs_http_respond_buf(r, 204, NULL, "", 0);
}

/* ---- POST /v1/blobs/delete: many deletes in one request ---- */

/* Body: blob ids, one per line (a final newline is optional). The whole body is read (it is
 * bounded) before the first delete; an id that is not valid fails alone, with EINVAL. */
#define DELETE_MANY_BODY_MAX (1u << 20)
#define DELETE_MANY_IDS_MAX  4096

static void delete_many_cleanup(void *p)
{
    hs_buf_release(p);
}

static void delete_many_start(struct hs_http_req *r)
{
    int64_t len = 0;
    if (hs_http_req_content_length(r, &len) && len > (int64_t)DELETE_MANY_BODY_MAX) {
        fail(r, HS_ETOOBIG, "body over 1 MiB");
        return;
    }
    struct hs_buf *body = hs_arena_alloc(hs_http_req_arena(r), sizeof *body);
    hs_buf_init(body, DELETE_MANY_BODY_MAX + 1); /* + 1: the last id is terminated in place */
    hs_arena_defer(hs_http_req_arena(r), delete_many_cleanup, body);
    hs_http_req_set_ctx(r, body);
}

static enum hs_err delete_many_body(struct hs_http_req *r, const void *data, size_t len)
{
    struct hs_buf *body = hs_http_req_ctx(r);
    if (len > DELETE_MANY_BODY_MAX - body->len) {
        fail(r, HS_ETOOBIG, "body over 1 MiB");
        return HS_ETOOBIG;
    }
    return hs_buf_append(body, data, len);
}

/* Deletes each id of the body in one hs_blob_delete_many (the volume store writes all their
 * tombstones with one group commit); the answer counts them (ENOENT is done, not failed). */
static void delete_many_run(struct hs_node *n, char *text, size_t len, json_t *failed,
                            int64_t *deleted, int64_t *missing)
{
    const char **ids = hs_xcalloc(DELETE_MANY_IDS_MAX, sizeof *ids);
    size_t *lens = hs_xcalloc(DELETE_MANY_IDS_MAX, sizeof *lens);
    enum hs_err *errs = hs_xcalloc(DELETE_MANY_IDS_MAX, sizeof *errs);
    size_t n_ids = 0;
    size_t at = 0; /* text has a spare byte past len */
    while (at < len && n_ids < DELETE_MANY_IDS_MAX) {
        char *line = text + at, *nl = memchr(line, '\n', len - at);
        size_t line_len = nl ? (size_t)(nl - line) : len - at;
        at += line_len + 1;
        if (line_len > 0 && line[line_len - 1] == '\r')
            line_len--;
        if (line_len == 0)
            continue;
        line[line_len] = '\0';
        lens[n_ids] = line_len;
        ids[n_ids++] = line;
    }
    hs_blob_delete_many(n->store, ids, n_ids, errs);
    for (size_t i = 0; i < n_ids; i++) {
        enum hs_err err = errs[i];
        if (err == HS_OK)
            (*deleted)++;
        else if (err == HS_ENOENT)
            (*missing)++;
        else if (json_array_append_new(failed, json_pack("{s:s%,s:s}", "id", ids[i], lens[i],
                                                         "error", hs_err_name(err))) != 0)
            json_array_append_new(
                failed, json_pack("{s:s,s:s}", "id", "(not UTF-8)", "error", hs_err_name(err)));
    }
    free(ids);
    free(lens);
    free(errs);
}

static size_t count_lines(const uint8_t *p, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (p[i] == '\n' && (i == 0 || p[i - 1] != '\n'))
            n++;
    return n + (len > 0 && p[len - 1] != '\n');
}

static void delete_many_done(struct hs_http_req *r)
{
    struct hs_node *n = node_of(r);
    struct hs_buf *body = hs_http_req_ctx(r);
    if (count_lines(body->data, body->len) > DELETE_MANY_IDS_MAX) {
        fail(r, HS_ETOOBIG, "more than 4096 ids");
        return;
    }
    if (hs_buf_reserve(body, 1) != HS_OK) { /* cannot fail: max_bytes keeps a spare byte */
        fail(r, HS_EIO, "cannot buffer the body");
        return;
    }
    int64_t deleted = 0, missing = 0;
    json_t *failed = json_array();
    delete_many_run(n, (char *)body->data, body->len, failed, &deleted, &missing);
    count(&n->counters.deletes, deleted);
    json_t *reply = json_pack("{s:I,s:I,s:o}", "deleted", (json_int_t)deleted, "missing",
                              (json_int_t)missing, "failed", failed);
    char *text = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    hs_http_respond_buf(r, 200, "application/json", text, strlen(text));
    free(text);
}

/* ---- GET /v1/blobs?after=&limit= ---- */

struct list_ctx {
    struct hs_buf *out;
    size_t n;
    const char *prefix; /* NULL: every id */
    size_t prefix_len;
    bool past_prefix; /* an id after every id with the prefix was seen: last page */
};

static void list_one(void *ctx, const char *id, int64_t len, uint32_t crc)
{
    struct list_ctx *lc = ctx;
    if (lc->prefix && strncmp(id, lc->prefix, lc->prefix_len) != 0) {
        lc->past_prefix = true; /* ids are in order: none after this one has the prefix */
        return;
    }
    /* ids are [0-9a-f.-] (checked by the store): nothing to escape */
    hs_buf_printf(lc->out, "%s{\"id\":\"%s\",\"size\":%" PRId64 ",\"crc32c\":\"%08x\"}",
                  lc->n++ ? "," : "", id, len, crc);
}

static bool list_params(struct hs_http_req *r, const char **after, const char **prefix,
                        size_t *limit)
{
    *after = hs_http_req_query(r, "after");
    if (*after && **after && !hs_blob_id_valid(*after)) {
        fail(r, HS_EINVAL, "after must be empty or a blob id");
        return false;
    }
    *prefix = hs_http_req_query(r, "prefix");
    if (*prefix && **prefix && !hs_blob_id_valid(*prefix)) {
        fail(r, HS_EINVAL, "prefix must be empty or a blob id");
        return false;
    }
    if (*prefix && !**prefix)
        *prefix = NULL;
    const char *lim = hs_http_req_query(r, "limit");
    *limit = LIST_LIMIT_DEFAULT;
    if (lim && *lim) {
        char *end = NULL;
        unsigned long v = strtoul(lim, &end, 10);
        if (*end != '\0' || lim[0] == '-' || v < 1 || v > LIST_LIMIT_MAX) {
            fail(r, HS_EINVAL, "limit must be 1..10000");
            return false;
        }
        *limit = v;
    }
    return true;
}

static void list_done(struct hs_http_req *r)
{
    struct hs_node *n = node_of(r);
    const char *after = NULL, *prefix = NULL;
    size_t limit = 0;
    if (!list_params(r, &after, &prefix, &limit))
        return;
    struct hs_buf out;
    hs_buf_init(&out, 0);
    hs_buf_printf(&out, "{\"blobs\":[");
    struct list_ctx lc = {.out = &out, .prefix = prefix, .prefix_len = prefix ? strlen(prefix) : 0};
    /* The ordered listing makes a prefix cheap: start at the prefix itself (listed first when
     * it is an id, since "strictly after" would skip it), stop at the first id without it. */
    bool from_prefix = prefix && (!after || strcmp(after, prefix) < 0);
    char *next = NULL;
    enum hs_err err = HS_OK;
    if (from_prefix) {
        int64_t len = 0;
        uint32_t crc = 0;
        if (hs_blob_stat(n->store, prefix, &len, &crc) == HS_OK) {
            list_one(&lc, prefix, len, crc);
            limit--;
        }
        after = prefix;
    }
    if (limit > 0)
        err = hs_blob_list(n->store, after, limit, list_one, &lc, &next);
    else
        next = hs_xstrdup(prefix); /* limit 1 was filled by the prefix itself */
    if (err == HS_OK && lc.past_prefix) {
        free(next);
        next = NULL;
    }
    if (err != HS_OK) {
        hs_buf_release(&out);
        {
            fail(r, err, "cannot list blobs");
            return;
        }
    }
    if (next)
        hs_buf_printf(&out, "],\"next_after\":\"%s\"}", next);
    else
        hs_buf_printf(&out, "],\"next_after\":null}");
    free(next);
    count(&n->counters.lists, 1);
    size_t len = 0;
    uint8_t *data = hs_buf_detach(&out, &len);
    hs_http_respond_take(r, 200, "application/json", data, len);
}

/* ---- GET /v1/health, GET /v1/stats ---- */

static void health_done(struct hs_http_req *r)
{
    struct hs_node *n = node_of(r);
    char body[160];
    int len = snprintf(body, sizeof body, "{\"status\":\"ok\",\"node_id\":\"%s\"}", n->node_id);
    hs_http_respond_buf(r, 200, "application/json", body, (size_t)len);
}

static int64_t load(atomic_int_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void stats_done(struct hs_http_req *r)
{
    struct hs_node *n = node_of(r);
    struct hs_node_counters *c = &n->counters;
    struct hs_blob_stats bs;
    hs_blob_store_stats(n->store, &bs);
    struct hs_buf out;
    hs_buf_init(&out, 0);
    hs_buf_printf(&out,
                  "{\"node_id\":\"%s\",\"zone\":\"%s\",\"uptime_ms\":%" PRId64 ",\"blobs\":%" PRId64
                  ",\"payload_bytes\":%" PRId64 ",\"free_bytes\":%" PRId64
                  ",\"total_bytes\":%" PRId64 ",\"quarantined\":%" PRId64,
                  n->node_id, n->zone, hs_clock_wall_ms() - n->started_ms, bs.blobs,
                  bs.payload_bytes, bs.free_bytes, bs.total_bytes, bs.quarantined);
    hs_buf_printf(&out,
                  ",\"ops\":{\"puts\":%" PRId64 ",\"put_bytes\":%" PRId64 ",\"gets\":%" PRId64
                  ",\"get_bytes\":%" PRId64 ",\"heads\":%" PRId64 ",\"deletes\":%" PRId64
                  ",\"lists\":%" PRId64 "},\"errors\":{",
                  load(&c->puts), load(&c->put_bytes), load(&c->gets), load(&c->get_bytes),
                  load(&c->heads), load(&c->deletes), load(&c->lists));
    for (int e = 1; e < HS_ERR_COUNT_; e++)
        hs_buf_printf(&out, "%s\"%s\":%" PRId64, e > 1 ? "," : "", hs_err_name((enum hs_err)e),
                      load(&c->errors[e]));
    struct hs_node_scrub_counters *sc = &n->scrub;
    hs_buf_printf(&out,
                  "},\"scrub\":{\"enabled\":%s,\"interval_ms\":%" PRId64
                  ",\"rate_bytes_per_s\":%" PRId64 ",\"verified_blobs\":%" PRId64
                  ",\"verified_bytes\":%" PRId64 ",\"quarantined\":%" PRId64
                  ",\"cycles_completed\":%" PRId64 ",\"last_cycle_ms\":%" PRId64
                  ",\"last_cycle_end_ms\":%" PRId64 ",\"cycle_verified_blobs\":%" PRId64 "}",
                  n->scrub_interval_ms > 0 ? "true" : "false", n->scrub_interval_ms,
                  n->scrub_rate_bytes_s, load(&sc->verified_blobs), load(&sc->verified_bytes),
                  load(&sc->quarantined), load(&sc->cycles_completed), load(&sc->last_cycle_ms),
                  load(&sc->last_cycle_end_ms), load(&sc->cycle_blobs));
    hs_buf_printf(&out,
                  ",\"volumes\":{\"files\":%" PRId64 ",\"bytes\":%" PRId64
                  ",\"live_bytes\":%" PRId64 ",\"reclaimable_bytes\":%" PRId64
                  ",\"compacted_volumes\":%" PRId64 ",\"reclaimed_bytes\":%" PRId64 "}}",
                  bs.volume_files, bs.volume_bytes, bs.volume_live_bytes,
                  bs.volume_reclaimable_bytes, bs.compacted_volumes, bs.compacted_reclaimed_bytes);
    size_t len = 0;
    uint8_t *data = hs_buf_detach(&out, &len);
    hs_http_respond_take(r, 200, "application/json", data, len);
}

/* ---- POST /v1/compact, GET /metrics ---- */

/* One compaction pass now, answered when done: {"volumes":..,"moved_needles":..,
 * "moved_bytes":..}. ?min_dead_percent=N (0..100) overrides --compact-dead-percent. */
static void compact_done(struct hs_http_req *r)
{
    struct hs_node *n = node_of(r);
    struct hs_blob_compact_opts o = {.min_dead_percent = n->compact_dead_percent,
                                     .rate_bytes_s = n->compact_rate_bytes_s,
                                     .stop = &n->stopping};
    const char *pct = hs_http_req_query(r, "min_dead_percent");
    if (pct) {
        char *end = NULL;
        long v = strtol(pct, &end, 10);
        if (end == pct || *end != '\0' || v < 0 || v > 100) {
            fail(r, HS_EINVAL, "min_dead_percent must be 0..100");
            return;
        }
        o.min_dead_percent = (int)v;
    }
    struct hs_blob_compact_result res = {0};
    enum hs_err err = hs_blob_compact(n->store, &o, &res);
    if (err != HS_OK) {
        fail(r, err, "compaction failed");
        return;
    }
    char body[160];
    int len = snprintf(body, sizeof body,
                       "{\"volumes\":%" PRId64 ",\"moved_needles\":%" PRId64
                       ",\"moved_bytes\":%" PRId64 "}",
                       res.volumes, res.moved_needles, res.moved_bytes);
    hs_http_respond_buf(r, 200, "application/json", body, (size_t)len);
}

/* The store's gauges and counters in the Prometheus text format. */
static void metrics_done(struct hs_http_req *r)
{
    struct hs_node *n = node_of(r);
    struct hs_blob_stats bs;
    hs_blob_store_stats(n->store, &bs);
    const struct {
        const char *name, *type, *help;
        int64_t value;
    } rows[] = {
        {"hs_node_blobs", "gauge", "blobs stored", bs.blobs},
        {"hs_node_payload_bytes", "gauge", "sum of their payload lengths", bs.payload_bytes},
        {"hs_node_free_bytes", "gauge", "free space of the data dir's file system", bs.free_bytes},
        {"hs_node_quarantined_total", "counter", "blobs quarantined since start", bs.quarantined},
        {"hs_node_puts_total", "counter", "successful PUTs", load(&n->counters.puts)},
        {"hs_node_gets_total", "counter", "successful GETs", load(&n->counters.gets)},
        {"hs_node_deletes_total", "counter", "successful DELETEs", load(&n->counters.deletes)},
        {"hs_node_volume_files", "gauge", "volume files", bs.volume_files},
        {"hs_node_volume_bytes", "gauge", "size of the volume files", bs.volume_bytes},
        {"hs_node_volume_live_bytes", "gauge", "bytes of the needles the index names",
         bs.volume_live_bytes},
        {"hs_node_volume_reclaimable_bytes", "gauge",
         "bytes compacting every sealed volume would free", bs.volume_reclaimable_bytes},
        {"hs_node_compacted_volumes_total", "counter", "volumes removed by compaction",
         bs.compacted_volumes},
        {"hs_node_compaction_reclaimed_bytes_total", "counter",
         "bytes compaction freed (removed minus copied)", bs.compacted_reclaimed_bytes},
    };
    struct hs_buf out;
    hs_buf_init(&out, 0);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        hs_buf_printf(&out, "# HELP %s %s\n# TYPE %s %s\n%s %" PRId64 "\n", rows[i].name,
                      rows[i].help, rows[i].name, rows[i].type, rows[i].name, rows[i].value);
    size_t len = 0;
    uint8_t *data = hs_buf_detach(&out, &len);
    hs_http_respond_take(r, 200, "text/plain; version=0.0.4", data, len);
}

/* Order matters only between the exact listing path and the id prefix: both are listed. */
const struct hs_http_route hs_node_routes[] = {
    {"GET", "/v1/blobs", HS_HTTP_EXACT, 0, NULL, NULL, list_done},
    {"PUT", "/v1/blobs/", HS_HTTP_PREFIX, 0, put_start, put_body, put_done},
    {"GET", "/v1/blobs/", HS_HTTP_PREFIX, 0, NULL, NULL, get_done},
    {"DELETE", "/v1/blobs/", HS_HTTP_PREFIX, 0, NULL, NULL, delete_done},
    {"POST", "/v1/blobs/delete", HS_HTTP_EXACT, 0, delete_many_start, delete_many_body,
     delete_many_done},
    {"GET", "/v1/health", HS_HTTP_EXACT, HS_HTTP_ROUTE_PUBLIC, NULL, NULL, health_done},
    {"GET", "/v1/stats", HS_HTTP_EXACT, 0, NULL, NULL, stats_done},
    {"POST", "/v1/compact", HS_HTTP_EXACT, 0, NULL, NULL, compact_done},
    {"GET", "/metrics", HS_HTTP_EXACT, 0, NULL, NULL, metrics_done},
};
const size_t hs_node_n_routes = sizeof hs_node_routes / sizeof hs_node_routes[0];

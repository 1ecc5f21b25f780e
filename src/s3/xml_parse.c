/* xml_parse.c - strict expat parsers of the three S3 request bodies. One generic walker keeps
 * the element path (at most three levels: root, item, field) and the text of the current leaf
 * in a bounded buffer; a small table per document says which names may appear where. DTDs are
 * refused outright (no entity can be declared, so entity expansion attacks cannot start), the
 * body size is capped before parsing, and every count and field length is bounded. Element names
 * may carry a namespace prefix ("s3:Delete"): it is ignored, like the xmlns attribute. */
#include "hs/s3_xml.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <expat.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define TEXT_MAX HS_S3_KEY_MAX /* longest leaf text kept (object keys) */

enum doc {
    DOC_CREATE_BUCKET,
    DOC_COMPLETE,
    DOC_DELETE,
};

struct walker {
    XML_Parser parser;
    enum doc doc;
    enum hs_s3_err err;
    unsigned depth;
    char path[3][32]; /* element names at depth 1..3 (local names) */
    char text[TEXT_MAX + 1];
    size_t text_len;
    bool text_overflow;
    /* CreateBucketConfiguration */
    struct hs_s3_create_bucket_conf *cb;
    /* CompleteMultipartUpload */
    struct hs_s3_complete_upload *cu;
    size_t cu_cap;
    bool part_has_number, part_has_etag;
    /* Delete */
    struct hs_s3_delete_request *dr;
    size_t dr_cap;
    bool quiet_seen;
};

static void stop(struct walker *w)
{
    if (w->err == HS_S3_OK)
        w->err = HS_S3_MALFORMED_XML;
    XML_StopParser(w->parser, XML_FALSE);
}

static const char *local_name(const char *name)
{
    const char *colon = strrchr(name, ':');
    return colon != NULL ? colon + 1 : name;
}

/* Text of the current leaf with surrounding whitespace removed (in place). */
static const char *trimmed(struct walker *w, size_t *len)
{
    size_t a = 0, b = w->text_len;
    while (a < b && isspace((unsigned char)w->text[a]))
        a++;
    while (b > a && isspace((unsigned char)w->text[b - 1]))
        b--;
    w->text[b] = '\0';
    *len = b - a;
    return w->text + a;
}

static bool parse_u32(const char *s, size_t n, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 10)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* ---- Per-document rules ---------------------------------------------------------------------- */

static const char *const root_names[] = {
    [DOC_CREATE_BUCKET] = "CreateBucketConfiguration",
    [DOC_COMPLETE] = "CompleteMultipartUpload",
    [DOC_DELETE] = "Delete",
};

/* May `name` open at depth (2 or 3) under the current path? */
static bool allowed(const struct walker *w, const char *name)
{
    switch (w->doc) {
    case DOC_CREATE_BUCKET:
        return w->depth == 1 && strcmp(name, "LocationConstraint") == 0;
    case DOC_COMPLETE:
        if (w->depth == 1)
            return strcmp(name, "Part") == 0;
        if (strcmp(w->path[1], "Part") != 0)
            return false; /* fields belong in a Part only */
        if (strcmp(name, "PartNumber") == 0 || strcmp(name, "ETag") == 0)
            return true;
        return strncmp(name, "Checksum", 8) == 0;
    case DOC_DELETE:
        if (w->depth == 1)
            return strcmp(name, "Quiet") == 0 || strcmp(name, "Object") == 0;
        if (strcmp(w->path[1], "Object") != 0)
            return false; /* fields belong in an Object only (not in Quiet) */
        return strcmp(name, "Key") == 0 || strcmp(name, "VersionId") == 0 ||
               strcmp(name, "ETag") == 0 || strcmp(name, "LastModifiedTime") == 0 ||
               strcmp(name, "Size") == 0;
    }
    return false;
}

static void item_open(struct walker *w, const char *name)
{
    if (w->doc == DOC_COMPLETE && strcmp(name, "Part") == 0) {
        struct hs_s3_complete_upload *cu = w->cu;
        if (cu->n_parts == HS_S3_PARTS_MAX) {
            stop(w);
            return;
        }
        if (cu->n_parts == w->cu_cap) {
            w->cu_cap = w->cu_cap == 0 ? 16 : w->cu_cap * 2;
            cu->parts = realloc(cu->parts, w->cu_cap * sizeof *cu->parts);
            if (cu->parts == NULL)
                HS_BUG("out of memory");
        }
        memset(&cu->parts[cu->n_parts++], 0, sizeof cu->parts[0]);
        w->part_has_number = w->part_has_etag = false;
    } else if (w->doc == DOC_DELETE && strcmp(name, "Object") == 0) {
        struct hs_s3_delete_request *dr = w->dr;
        if (dr->n_objects == HS_S3_DELETE_OBJECTS_MAX) {
            stop(w);
            return;
        }
        if (dr->n_objects == w->dr_cap) {
            w->dr_cap = w->dr_cap == 0 ? 16 : w->dr_cap * 2;
            dr->objects = realloc(dr->objects, w->dr_cap * sizeof *dr->objects);
            if (dr->objects == NULL)
                HS_BUG("out of memory");
        }
        memset(&dr->objects[dr->n_objects++], 0, sizeof dr->objects[0]);
    }
}

static void item_close(struct walker *w)
{
    if (w->doc == DOC_COMPLETE && strcmp(w->path[1], "Part") == 0) {
        if (!w->part_has_number || !w->part_has_etag)
            stop(w);
    } else if (w->doc == DOC_DELETE && strcmp(w->path[1], "Object") == 0) {
        if (w->dr->objects[w->dr->n_objects - 1].key == NULL)
            stop(w);
    }
}

static void part_field(struct walker *w, const char *name, const char *v, size_t n)
{
    struct hs_s3_complete_part *p = &w->cu->parts[w->cu->n_parts - 1];
    enum hs_s3_cksum_algo a = HS_S3_CKSUM_NONE;
    if (strcmp(name, "PartNumber") == 0) {
        if (w->part_has_number || !parse_u32(v, n, HS_S3_PARTS_MAX, &p->part_number) ||
            p->part_number == 0) {
            stop(w);
            return;
        }
        w->part_has_number = true;
    } else if (strcmp(name, "ETag") == 0) {
        if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
            v++;
            n -= 2;
        }
        if (w->part_has_etag || n == 0 || n >= sizeof p->etag) {
            stop(w);
            return;
        }
        memcpy(p->etag, v, n);
        p->etag[n] = '\0';
        w->part_has_etag = true;
    } else {
        for (unsigned i = HS_S3_CKSUM_CRC32; i <= HS_S3_CKSUM_SHA256; i++) {
            if (strcmp(name, hs_s3_cksum_xml_name((enum hs_s3_cksum_algo)i)) == 0)
                a = (enum hs_s3_cksum_algo)i;
        }
        if (a == HS_S3_CKSUM_NONE || p->cksum != HS_S3_CKSUM_NONE || n == 0 ||
            n >= sizeof p->cksum_b64) {
            stop(w);
            return;
        }
        p->cksum = a;
        memcpy(p->cksum_b64, v, n);
        p->cksum_b64[n] = '\0';
    }
}

static void object_field(struct walker *w, const char *name, const char *v, size_t n)
{
    struct hs_s3_delete_object *o = &w->dr->objects[w->dr->n_objects - 1];
    if (strcmp(name, "Key") == 0) {
        /* keys are taken verbatim: whitespace is part of a key */
        v = w->text;
        n = w->text_len;
        if (o->key != NULL || n == 0 || n > HS_S3_KEY_MAX) {
            stop(w);
            return;
        }
        o->key = hs_xmalloc(n + 1);
        memcpy(o->key, v, n);
        o->key[n] = '\0';
        o->key_len = n;
    } else if (strcmp(name, "VersionId") == 0) {
        if (o->version_id != NULL || n == 0) {
            stop(w);
            return;
        }
        o->version_id = hs_xmalloc(n + 1);
        memcpy(o->version_id, v, n);
        o->version_id[n] = '\0';
    }
    /* ETag, LastModifiedTime, Size (conditional deletes): accepted and ignored */
}

static void leaf_close(struct walker *w, const char *name)
{
    size_t n;
    if (w->text_overflow) {
        stop(w);
        return;
    }
    /* Keys are taken untrimmed: whitespace is part of a key. */
    if (w->doc == DOC_DELETE && strcmp(name, "Key") == 0) {
        object_field(w, name, NULL, 0);
        return;
    }
    const char *v = trimmed(w, &n);
    switch (w->doc) {
    case DOC_CREATE_BUCKET:
        if (w->cb->has_location || n >= sizeof w->cb->location) {
            stop(w);
            return;
        }
        memcpy(w->cb->location, v, n);
        w->cb->location[n] = '\0';
        w->cb->has_location = true;
        break;
    case DOC_COMPLETE:
        part_field(w, name, v, n);
        break;
    case DOC_DELETE:
        if (w->depth == 2 && strcmp(name, "Quiet") == 0) {
            if (w->quiet_seen) {
                stop(w);
                return;
            }
            w->quiet_seen = true;
            if (n == 4 && strncasecmp(v, "true", 4) == 0)
                w->dr->quiet = true;
            else if (n == 5 && strncasecmp(v, "false", 5) == 0)
                w->dr->quiet = false;
            else {
                stop(w);
                return;
            }
        } else {
            object_field(w, name, v, n);
        }
        break;
    }
}

/* Depth at which elements are leaves (hold text). */
static unsigned leaf_depth(const struct walker *w, const char *name)
{
    if (w->doc == DOC_DELETE && strcmp(name, "Quiet") == 0)
        return 2;
    return w->doc == DOC_CREATE_BUCKET ? 2 : 3;
}

/* ---- expat callbacks ------------------------------------------------------------------------- */

static void XMLCALL on_start(void *ud, const XML_Char *qname, const XML_Char **attrs)
{
    struct walker *w = ud;
    const char *name = local_name(qname);
    (void)attrs;
    if (w->err != HS_S3_OK)
        return;
    if (w->depth == 0) {
        if (strcmp(name, root_names[w->doc]) != 0) {
            stop(w);
            return;
        }
    } else if (w->depth >= 3 || !allowed(w, name) || w->depth + 1 > leaf_depth(w, name) ||
               (w->depth == 1 && leaf_depth(w, name) == 3 &&
                strcmp(name, w->doc == DOC_COMPLETE ? "Part" : "Object") != 0)) {
        {
            stop(w);
            return;
        }
    }
    if (strlen(name) >= sizeof w->path[0]) {
        stop(w);
        return;
    }
    memcpy(w->path[w->depth], name, strlen(name) + 1);
    w->depth++;
    w->text_len = 0;
    w->text_overflow = false;
    if (w->depth == 2 && leaf_depth(w, name) == 3)
        item_open(w, name);
}

static void XMLCALL on_end(void *ud, const XML_Char *qname)
{
    struct walker *w = ud;
    const char *name = local_name(qname);
    if (w->err != HS_S3_OK)
        return;
    if (w->depth == leaf_depth(w, name) && w->depth >= 2)
        leaf_close(w, name);
    else if (w->depth == 2)
        item_close(w);
    w->depth--;
    w->text_len = 0;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct walker *w = ud;
    if (w->err != HS_S3_OK)
        return;
    bool leaf = w->depth >= 2 && w->depth == leaf_depth(w, w->path[w->depth - 1]);
    if (!leaf) {
        for (int i = 0; i < len; i++) {
            if (!isspace((unsigned char)s[i])) {
                stop(w);
                return;
            } /* text where only elements belong */
        }
        return;
    }
    if (w->text_len + (size_t)len > TEXT_MAX) {
        w->text_overflow = true;
        return;
    }
    memcpy(w->text + w->text_len, s, (size_t)len);
    w->text_len += (size_t)len;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    stop(ud);
}

static enum hs_s3_err walk(struct walker *w, const void *body, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return HS_S3_MALFORMED_XML;
    w->parser = XML_ParserCreate("UTF-8");
    if (w->parser == NULL)
        HS_BUG("out of memory");
    XML_SetUserData(w->parser, w);
    XML_SetElementHandler(w->parser, on_start, on_end);
    XML_SetCharacterDataHandler(w->parser, on_text);
    XML_SetStartDoctypeDeclHandler(w->parser, on_doctype);
    enum XML_Status st = XML_Parse(w->parser, body, (int)len, XML_TRUE);
    if (st != XML_STATUS_OK && w->err == HS_S3_OK)
        w->err = HS_S3_MALFORMED_XML;
    XML_ParserFree(w->parser);
    return w->err;
}

enum hs_s3_err hs_s3_xml_parse_create_bucket(const void *body, size_t len,
                                             struct hs_s3_create_bucket_conf *out)
{
    struct hs_s3_create_bucket_conf cb;
    struct walker *w = hs_xcalloc(1, sizeof *w);
    memset(&cb, 0, sizeof cb);
    w->doc = DOC_CREATE_BUCKET;
    w->cb = &cb;
    enum hs_s3_err err = walk(w, body, len, HS_S3_XML_CREATE_BUCKET_MAX);
    free(w);
    if (err == HS_S3_OK)
        *out = cb;
    return err;
}

enum hs_s3_err hs_s3_xml_parse_complete(const void *body, size_t len,
                                        struct hs_s3_complete_upload *out)
{
    struct hs_s3_complete_upload cu = {0};
    struct walker *w = hs_xcalloc(1, sizeof *w);
    w->doc = DOC_COMPLETE;
    w->cu = &cu;
    enum hs_s3_err err = walk(w, body, len, HS_S3_XML_COMPLETE_MAX);
    free(w);
    if (err == HS_S3_OK && cu.n_parts == 0)
        err = HS_S3_MALFORMED_XML;
    if (err != HS_S3_OK) {
        hs_s3_complete_upload_release(&cu);
        return err;
    }
    *out = cu;
    return HS_S3_OK;
}

void hs_s3_complete_upload_release(struct hs_s3_complete_upload *c)
{
    if (c == NULL)
        return;
    free(c->parts);
    c->parts = NULL;
    c->n_parts = 0;
}

enum hs_s3_err hs_s3_xml_parse_delete(const void *body, size_t len,
                                      struct hs_s3_delete_request *out)
{
    struct hs_s3_delete_request dr = {0};
    struct walker *w = hs_xcalloc(1, sizeof *w);
    w->doc = DOC_DELETE;
    w->dr = &dr;
    enum hs_s3_err err = walk(w, body, len, HS_S3_XML_DELETE_MAX);
    free(w);
    if (err == HS_S3_OK && dr.n_objects == 0)
        err = HS_S3_MALFORMED_XML;
    if (err != HS_S3_OK) {
        hs_s3_delete_request_release(&dr);
        return err;
    }
    *out = dr;
    return HS_S3_OK;
}

void hs_s3_delete_request_release(struct hs_s3_delete_request *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n_objects; i++) {
        free(d->objects[i].key);
        free(d->objects[i].version_id);
    }
    free(d->objects);
    d->objects = NULL;
    d->n_objects = 0;
}

/* s3_multipart_attrs.c - the object attributes an upload carries from CreateMultipartUpload to
 * Complete: the representation headers and x-amz-meta-* (as PutObject stores them) kept in the
 * upload record's "attrs" member, then put into the manifest with the COMPOSITE checksum of the
 * parts. The record member is an object of header name -> value, as the client sent them
 * (x-amz-meta-* lower-cased); meta treats it as opaque (include/hs/upload.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "gateway/s3_multipart_int.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define META_PREFIX     "x-amz-meta-"
#define META_PREFIX_LEN (sizeof META_PREFIX - 1)

static const struct row {
    const char *header;
    size_t off;
} rows[] = {
    {"Content-Encoding", offsetof(struct hs_manifest_attrs, content_encoding)},
    {"Cache-Control", offsetof(struct hs_manifest_attrs, cache_control)},
    {"Content-Disposition", offsetof(struct hs_manifest_attrs, content_disposition)},
    {"Content-Language", offsetof(struct hs_manifest_attrs, content_language)},
    {"Expires", offsetof(struct hs_manifest_attrs, expires)},
};

static char **field(struct hs_manifest_attrs *a, size_t i)
{
    return (char **)((char *)a + rows[i].off);
}

char *hs_mpu_attrs_encode(const struct hs_manifest_attrs *a)
{
    if (hs_manifest_attrs_empty(a))
        return NULL;
    json_t *o = json_object();
    for (size_t i = 0; i < HS_ARRAY_LEN(rows); i++) {
        const char *v = *field((struct hs_manifest_attrs *)a, i);
        if (v)
            json_object_set_new(o, rows[i].header, json_string(v));
    }
    for (size_t i = 0; i < a->n_meta; i++) {
        char *name = hs_xasprintf(META_PREFIX "%s", a->meta[i].name);
        json_object_set_new(o, name, json_string(a->meta[i].value));
        free(name);
    }
    char *text = json_object_size(o) ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* Reads the record's member into a (zeroed). Members it does not know, or that do not pass the
 * manifest's rules, are dropped with a warning: the record was validated when it was written. */
static void decode(const char *json, struct hs_manifest_attrs *a, const char *upload_id)
{
    json_t *o = json_loads(json, 0, NULL);
    const char *name;
    json_t *v;
    json_object_foreach(o, name, v) {
        if (!json_is_string(v))
            continue;
        const char *value = json_string_value(v);
        char why[160] = "";
        bool ok = false;
        if (strncasecmp(name, META_PREFIX, META_PREFIX_LEN) == 0) {
            ok = hs_manifest_attrs_meta_add(a, name + META_PREFIX_LEN, value, why, sizeof why) ==
                 HS_OK;
        } else {
            for (size_t i = 0; i < HS_ARRAY_LEN(rows) && !ok; i++) {
                if (strcasecmp(name, rows[i].header) != 0)
                    continue;
                free(*field(a, i));
                *field(a, i) = hs_xstrdup(value);
                ok = true;
            }
        }
        if (!ok)
            HS_LOG_WARN("s3_upload_attr_dropped", "upload=%s name='%.64s' why='%s'", upload_id,
                        name, why);
    }
    json_decref(o);
}

void hs_mpu_attrs_apply(struct hs_manifest *m, const struct hs_upload_record *rec,
                        enum hs_s3_cksum_algo alg, const char *composite)
{
    struct hs_manifest_attrs *a = hs_xcalloc(1, sizeof *a);
    if (rec->attrs_json)
        decode(rec->attrs_json, a, rec->id);
    if (composite && composite[0] && hs_s3_cksum_header(alg)) {
        a->checksum_alg = hs_xstrdup(hs_s3_cksum_header(alg) + strlen("x-amz-checksum-"));
        a->checksum = hs_xstrdup(composite);
        a->checksum_type = hs_xstrdup("COMPOSITE");
    }
    char why[160] = "";
    if (hs_manifest_attrs_validate(a, why, sizeof why) != HS_OK) {
        /* cannot happen for what Create accepted; keep the object, lose the attributes */
        HS_LOG_WARN("s3_upload_attrs_invalid", "upload=%s why='%s'", rec->id, why);
        hs_manifest_attrs_free(a);
        return;
    }
    hs_manifest_attrs_free(m->attrs);
    m->attrs = hs_manifest_attrs_empty(a) ? NULL : a;
    if (!m->attrs)
        hs_manifest_attrs_free(a);
}

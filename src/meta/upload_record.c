/* upload_record.c - multipart upload records and part records (include/hs/upload.h has the
 * formats and keys): ids, keys, validation, JSON. The part of a part record is a manifest part
 * (manifest_json.c encodes it, packed when asked), so the healer reads its blobs with the same
 * code as a manifest's. */
#include "hs/upload.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "manifest_int.h"
#include "hs/banned.h"

#define WHY(...) hs_meta_why(why, why_len, __VA_ARGS__)

/* ---- ids and keys ---- */

enum hs_err hs_upload_id_new(char out[HS_UPLOAD_ID_BUF])
{
    return hs_meta_time_id_new(out, (HS_UPLOAD_ID_CHARS - 12) / 2, "upload_id_random_failed");
}

bool hs_upload_id_valid(const char *id)
{
    return id && strnlen(id, HS_UPLOAD_ID_BUF) == HS_UPLOAD_ID_CHARS &&
           hs_meta_is_lower_hex(id, HS_UPLOAD_ID_CHARS);
}

enum hs_err hs_meta_key_upload(const char *object_key, const char *upload_id, char **out)
{
    if (!object_key || !hs_meta_object_key_valid(object_key, strlen(object_key)) ||
        !hs_upload_id_valid(upload_id))
        return HS_EINVAL;
    *out =
        hs_xasprintf("%s%s%c%s", HS_META_PREFIX_UPLOAD, object_key, HS_UPLOAD_KEY_SEP, upload_id);
    return HS_OK;
}

enum hs_err hs_meta_key_upload_parse(const char *etcd_key, char **object_key_out,
                                     char id_out[HS_UPLOAD_ID_BUF])
{
    const char *rest = hs_meta_key_strip(etcd_key, HS_META_PREFIX_UPLOAD);
    size_t n = rest ? strlen(rest) : 0;
    if (n < HS_UPLOAD_ID_CHARS + 2 || rest[n - HS_UPLOAD_ID_CHARS - 1] != HS_UPLOAD_KEY_SEP)
        return HS_EINVAL;
    const char *id = rest + n - HS_UPLOAD_ID_CHARS;
    size_t key_len = n - HS_UPLOAD_ID_CHARS - 1;
    if (!hs_upload_id_valid(id) || !hs_meta_object_key_valid(rest, key_len))
        return HS_EINVAL;
    char *key = hs_xmalloc(key_len + 1);
    memcpy(key, rest, key_len);
    key[key_len] = '\0';
    *object_key_out = key;
    memcpy(id_out, id, HS_UPLOAD_ID_BUF);
    return HS_OK;
}

enum hs_err hs_meta_key_upart(const char *upload_id, uint32_t number, char **out)
{
    if (!hs_upload_id_valid(upload_id) || number < 1 || number > HS_UPLOAD_PARTS_MAX)
        return HS_EINVAL;
    *out = hs_xasprintf("%s%s/%05" PRIu32, HS_META_PREFIX_UPART, upload_id, number);
    return HS_OK;
}

enum hs_err hs_meta_key_upart_prefix(const char *upload_id, char **out)
{
    if (!hs_upload_id_valid(upload_id))
        return HS_EINVAL;
    *out = hs_xasprintf("%s%s/", HS_META_PREFIX_UPART, upload_id);
    return HS_OK;
}

enum hs_err hs_meta_key_upart_parse(const char *etcd_key, char id_out[HS_UPLOAD_ID_BUF],
                                    uint32_t *number_out)
{
    const char *rest = hs_meta_key_strip(etcd_key, HS_META_PREFIX_UPART);
    if (!rest || strlen(rest) != HS_UPLOAD_ID_CHARS + 6 || rest[HS_UPLOAD_ID_CHARS] != '/')
        return HS_EINVAL;
    uint32_t n = 0;
    for (size_t i = HS_UPLOAD_ID_CHARS + 1; i < HS_UPLOAD_ID_CHARS + 6; i++) {
        if (rest[i] < '0' || rest[i] > '9')
            return HS_EINVAL;
        n = n * 10 + (uint32_t)(rest[i] - '0');
    }
    char id[HS_UPLOAD_ID_BUF];
    memcpy(id, rest, HS_UPLOAD_ID_CHARS);
    id[HS_UPLOAD_ID_CHARS] = '\0';
    if (!hs_upload_id_valid(id) || n < 1 || n > HS_UPLOAD_PARTS_MAX)
        return HS_EINVAL;
    memcpy(id_out, id, HS_UPLOAD_ID_BUF);
    *number_out = n;
    return HS_OK;
}

/* ---- names ---- */

static const char *const state_names[] = {NULL, "OPEN", "ABORTED", "COMPLETED"};

const char *hs_upload_state_name(enum hs_upload_state s)
{
    return (size_t)s < HS_ARRAY_LEN(state_names) ? state_names[s] : NULL;
}

static bool state_parse(const char *text, enum hs_upload_state *out)
{
    for (size_t i = 1; i < HS_ARRAY_LEN(state_names); i++) {
        if (strcmp(text, state_names[i]) == 0) {
            *out = (enum hs_upload_state)i;
            return true;
        }
    }
    return false;
}

bool hs_upload_ck_alg_valid(const char *alg)
{
    static const char *const algs[] = {"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"};
    for (size_t i = 0; alg && i < HS_ARRAY_LEN(algs); i++)
        if (strcmp(alg, algs[i]) == 0)
            return true;
    return false;
}

static bool base64_valid(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n == 0 || n > max || n % 4 != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool pad = c == '=' && i >= n - 2 && (i == n - 1 || s[n - 1] == '=');
        if (!pad && !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '+' || c == '/'))
            return false;
    }
    return true;
}

/* ---- upload records ---- */

void hs_upload_record_init(struct hs_upload_record *r)
{
    memset(r, 0, sizeof *r);
}

void hs_upload_record_release(struct hs_upload_record *r)
{
    if (!r)
        return;
    free(r->key);
    free(r->bucket);
    free(r->s3key);
    free(r->content_type);
    free(r->attrs_json);
    hs_upload_record_init(r);
}

enum hs_err hs_upload_record_validate(const struct hs_upload_record *r, char *why, size_t why_len)
{
    if (!hs_upload_id_valid(r->id)) {
        WHY("id: want %d lower-case hex digits", HS_UPLOAD_ID_CHARS);
    } else if (!r->key || !hs_meta_object_key_valid(r->key, strlen(r->key))) {
        WHY("key: not a valid object key");
    } else if (!r->bucket || r->bucket[0] == '\0' ||
               strnlen(r->bucket, HS_UPLOAD_BUCKET_MAX + 1) > HS_UPLOAD_BUCKET_MAX ||
               !hs_meta_object_key_valid(r->bucket, strlen(r->bucket))) {
        WHY("bucket: 1..%d chars of an object key", HS_UPLOAD_BUCKET_MAX);
    } else if (!r->s3key || !hs_meta_object_key_valid(r->s3key, strlen(r->s3key))) {
        WHY("s3key: not a valid key");
    } else if (!hs_upload_state_name(r->state)) {
        WHY("state: unknown state %d", (int)r->state);
    } else if (r->strategy != HS_STRATEGY_REPLICATION && r->strategy != HS_STRATEGY_EC) {
        WHY("strategy: parts are replication or ec");
    } else if (!hs_meta_content_type_valid(r->content_type)) {
        WHY("ctype: 1..%d printable ASCII chars", HS_CONTENT_TYPE_MAX);
    } else if (r->ck_alg[0] && !hs_upload_ck_alg_valid(r->ck_alg)) {
        WHY("ck_alg: unknown algorithm '%.20s'", r->ck_alg);
    } else if (r->created_ms < 0 || r->state_ms < r->created_ms) {
        WHY("ms/state_ms: want 0 <= ms <= state_ms");
    } else if ((r->state == HS_UPLOAD_COMPLETED) != (r->txn_id[0] != '\0') ||
               (r->txn_id[0] && !hs_meta_txn_id_valid(r->txn_id))) {
        WHY("txn: a valid txn id exactly when COMPLETED");
    } else {
        if (r->attrs_json) {
            json_t *a = json_loads(r->attrs_json, 0, NULL);
            bool ok = json_is_object(a);
            json_decref(a);
            if (!ok) {
                WHY("attrs: not a JSON object");
                return HS_EINVAL;
            }
        }
        return HS_OK;
    }
    return HS_EINVAL;
}

enum hs_err hs_upload_record_encode(const struct hs_upload_record *r, char **out, size_t *len_out,
                                    char *why, size_t why_len)
{
    enum hs_err err = hs_upload_record_validate(r, why, why_len);
    if (err != HS_OK)
        return err;
    json_t *root = json_object();
    hs_mj_set(root, "v", json_integer(HS_UPLOAD_RECORD_VERSION));
    hs_mj_set(root, "id", hs_mj_string(r->id));
    hs_mj_set(root, "key", hs_mj_string(r->key));
    hs_mj_set(root, "bucket", hs_mj_string(r->bucket));
    hs_mj_set(root, "s3key", hs_mj_string(r->s3key));
    hs_mj_set(root, "state", hs_mj_string(hs_upload_state_name(r->state)));
    hs_mj_set(root, "strategy", hs_mj_string(hs_strategy_name(r->strategy)));
    hs_mj_set(root, "ctype", hs_mj_string(r->content_type));
    if (r->attrs_json)
        hs_mj_set(root, "attrs", json_loads(r->attrs_json, 0, NULL));
    if (r->ck_alg[0])
        hs_mj_set(root, "ck_alg", hs_mj_string(r->ck_alg));
    hs_mj_set(root, "ms", json_integer(r->created_ms));
    hs_mj_set(root, "state_ms", json_integer(r->state_ms));
    if (r->txn_id[0])
        hs_mj_set(root, "txn", hs_mj_string(r->txn_id));
    return hs_mj_dump(root, out, len_out, why, why_len);
}

/* An optional string member copied into a fixed buffer of cap bytes (NUL included). */
static bool fixed_str(const json_t *root, const char *name, char *out, size_t cap, char *why,
                      size_t why_len)
{
    const json_t *j = json_object_get(root, name);
    if (!j)
        return true;
    if (!json_is_string(j) || json_string_length(j) >= cap ||
        strlen(json_string_value(j)) != json_string_length(j)) {
        WHY("%s: not a string of at most %zu chars", name, cap - 1);
        return false;
    }
    memcpy(out, json_string_value(j), json_string_length(j) + 1);
    return true;
}

static bool upload_from_json(const json_t *root, struct hs_upload_record *r, char *why,
                             size_t why_len)
{
    static const char *const keys[] = {"v",     "id",       "key",   "bucket", "s3key",
                                       "state", "strategy", "ctype", "attrs",  "ck_alg",
                                       "ms",    "state_ms", "txn"};
    char *state = NULL, *strategy = NULL;
    bool ok = hs_mj_check_keys(root, keys, HS_ARRAY_LEN(keys), "upload", why, why_len) &&
              fixed_str(root, "id", r->id, sizeof r->id, why, why_len) &&
              hs_mj_str(root, "key", "", &r->key, why, why_len) &&
              hs_mj_str(root, "bucket", "", &r->bucket, why, why_len) &&
              hs_mj_str(root, "s3key", "", &r->s3key, why, why_len) &&
              hs_mj_str(root, "state", "", &state, why, why_len) &&
              hs_mj_str(root, "strategy", "", &strategy, why, why_len) &&
              hs_mj_str(root, "ctype", "", &r->content_type, why, why_len) &&
              fixed_str(root, "ck_alg", r->ck_alg, sizeof r->ck_alg, why, why_len) &&
              hs_mj_int(root, "ms", "", 0, INT64_MAX, &r->created_ms, why, why_len) &&
              hs_mj_int(root, "state_ms", "", 0, INT64_MAX, &r->state_ms, why, why_len) &&
              fixed_str(root, "txn", r->txn_id, sizeof r->txn_id, why, why_len);
    if (ok && !state_parse(state, &r->state)) {
        WHY("state: unknown state '%.20s'", state);
        ok = false;
    }
    if (ok && !hs_strategy_parse(strategy, &r->strategy)) {
        WHY("strategy: unknown strategy '%.20s'", strategy);
        ok = false;
    }
    const json_t *attrs = json_object_get(root, "attrs");
    if (ok && attrs) {
        if (!json_is_object(attrs)) {
            WHY("attrs: not an object");
            ok = false;
        } else if (!(r->attrs_json = json_dumps(attrs, JSON_COMPACT))) {
            HS_BUG("json_dumps failed (out of memory)");
        }
    }
    free(state);
    free(strategy);
    return ok;
}

enum hs_err hs_upload_record_decode(const void *data, size_t len, struct hs_upload_record *out,
                                    char *why, size_t why_len)
{
    json_t *root = NULL;
    enum hs_err err = hs_mj_load(data, len, HS_UPLOAD_RECORD_VERSION, &root, why, why_len);
    if (err != HS_OK)
        return err;
    struct hs_upload_record r;
    hs_upload_record_init(&r);
    err = upload_from_json(root, &r, why, why_len) &&
                  hs_upload_record_validate(&r, why, why_len) == HS_OK
              ? HS_OK
              : HS_ECORRUPT;
    json_decref(root);
    if (err != HS_OK) {
        hs_upload_record_release(&r);
        return err;
    }
    *out = r;
    return HS_OK;
}

enum hs_err hs_upload_attrs_set(struct hs_upload_record *r, const struct hs_manifest_attrs *a)
{
    free(r->attrs_json);
    r->attrs_json = NULL;
    if (!a || hs_manifest_attrs_empty(a))
        return HS_OK;
    if (hs_manifest_attrs_validate(a, NULL, 0) != HS_OK)
        return HS_EINVAL;
    json_t *j = hs_mj_attrs_to_json(a);
    r->attrs_json = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!r->attrs_json)
        HS_BUG("json_dumps failed (out of memory)");
    return HS_OK;
}

enum hs_err hs_upload_attrs_get(const struct hs_upload_record *r, struct hs_manifest_attrs **out)
{
    *out = NULL;
    if (!r->attrs_json)
        return HS_OK;
    json_t *root = json_object();
    hs_mj_set(root, "attrs", json_loads(r->attrs_json, 0, NULL));
    struct hs_manifest m;
    hs_manifest_init(&m);
    bool ok = hs_mj_attrs_from_json(root, HS_MANIFEST_VERSION_2, &m, NULL, 0) &&
              hs_manifest_attrs_validate(m.attrs, NULL, 0) == HS_OK;
    json_decref(root);
    if (ok) {
        *out = m.attrs;
        m.attrs = NULL;
    }
    hs_manifest_release(&m);
    return ok ? HS_OK : HS_ECORRUPT;
}

/* ---- part records ---- */

void hs_upart_record_init(struct hs_upart_record *r)
{
    memset(r, 0, sizeof *r);
}

void hs_upart_record_release(struct hs_upart_record *r)
{
    if (!r)
        return;
    hs_part_release(&r->data);
    hs_upart_record_init(r);
}

enum hs_err hs_upart_record_validate(const struct hs_upart_record *r, char *why, size_t why_len)
{
    if (r->number < 1 || r->number > HS_UPLOAD_PARTS_MAX) {
        WHY("n: %" PRIu32 " not in 1..%d", r->number, HS_UPLOAD_PARTS_MAX);
        return HS_EINVAL;
    }
    if (r->size_bytes < 0 || r->size_bytes != r->data.len_bytes) {
        WHY("size: %" PRId64 " is not the part's len", r->size_bytes);
        return HS_EINVAL;
    }
    if (strlen(r->md5_hex) != 32 || !hs_meta_is_lower_hex(r->md5_hex, 32)) {
        WHY("md5: want 32 lower-case hex digits");
        return HS_EINVAL;
    }
    if (r->checksum[0] && !base64_valid(r->checksum, HS_UPART_CK_MAX)) {
        WHY("ck: not base64 of 1..%d chars", HS_UPART_CK_MAX);
        return HS_EINVAL;
    }
    if (r->written_ms < 0 || !hs_meta_txn_id_valid(r->txn_id)) {
        WHY("ms/txn: want ms >= 0 and a valid txn id");
        return HS_EINVAL;
    }
    if (r->data.kind != HS_PART_REPLICATED && r->data.kind != HS_PART_EC) {
        WHY("data: a replicated or ec part");
        return HS_EINVAL;
    }
    return hs_meta_part_check(&r->data, r->data.kind, "data", why, why_len);
}

enum hs_err hs_upart_record_encode(const struct hs_upart_record *r, char **out, size_t *len_out,
                                   char *why, size_t why_len)
{
    enum hs_err err = hs_upart_record_validate(r, why, why_len);
    if (err != HS_OK)
        return err;
    json_t *root = json_object();
    hs_mj_set(root, "v", json_integer(HS_UPART_RECORD_VERSION));
    hs_mj_set(root, "n", json_integer(r->number));
    hs_mj_set(root, "size", json_integer(r->size_bytes));
    hs_mj_set(root, "md5", hs_mj_string(r->md5_hex));
    if (r->checksum[0])
        hs_mj_set(root, "ck", hs_mj_string(r->checksum));
    hs_mj_set(root, "ms", json_integer(r->written_ms));
    hs_mj_set(root, "txn", hs_mj_string(r->txn_id));
    hs_mj_set(root, "data", hs_mj_part_to_json(&r->data));
    if (r->degraded)
        hs_mj_set(root, "dgr", json_true());
    return hs_mj_dump(root, out, len_out, why, why_len);
}

static bool upart_from_json(const json_t *root, struct hs_upart_record *r, char *why,
                            size_t why_len)
{
    static const char *const keys[] = {"v", "n", "size", "md5", "ck", "ms", "txn", "data", "dgr"};
    int64_t n = 0;
    if (!hs_mj_check_keys(root, keys, HS_ARRAY_LEN(keys), "part", why, why_len) ||
        !hs_mj_int(root, "n", "", 1, HS_UPLOAD_PARTS_MAX, &n, why, why_len) ||
        !hs_mj_int(root, "size", "", 0, HS_MANIFEST_SIZE_MAX, &r->size_bytes, why, why_len) ||
        !fixed_str(root, "md5", r->md5_hex, sizeof r->md5_hex, why, why_len) ||
        !fixed_str(root, "ck", r->checksum, sizeof r->checksum, why, why_len) ||
        !hs_mj_int(root, "ms", "", 0, INT64_MAX, &r->written_ms, why, why_len) ||
        !fixed_str(root, "txn", r->txn_id, sizeof r->txn_id, why, why_len))
        return false;
    r->number = (uint32_t)n;
    const json_t *dgr = json_object_get(root, "dgr");
    if (dgr && !json_is_true(dgr)) {
        WHY("dgr: true or absent");
        return false;
    }
    r->degraded = dgr != NULL;
    const json_t *data = json_object_get(root, "data");
    if (!json_is_object(data)) {
        WHY("data: missing or not an object");
        return false;
    }
    /* the kind shows in the members: ec parts have "k" */
    enum hs_part_kind kind = json_object_get(data, "k") ? HS_PART_EC : HS_PART_REPLICATED;
    return hs_mj_part_from_json(data, kind, "data", &r->data, why, why_len);
}

enum hs_err hs_upart_record_decode(const void *data, size_t len, struct hs_upart_record *out,
                                   char *why, size_t why_len)
{
    json_t *root = NULL;
    enum hs_err err = hs_mj_load(data, len, HS_UPART_RECORD_VERSION, &root, why, why_len);
    if (err != HS_OK)
        return err;
    struct hs_upart_record r;
    hs_upart_record_init(&r);
    err = upart_from_json(root, &r, why, why_len) &&
                  hs_upart_record_validate(&r, why, why_len) == HS_OK
              ? HS_OK
              : HS_ECORRUPT;
    json_decref(root);
    if (err != HS_OK) {
        hs_upart_record_release(&r);
        return err;
    }
    *out = r;
    return HS_OK;
}

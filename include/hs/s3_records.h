/* s3_records.h - what etcd stores for the S3 front end: access keys (s3keys/<access-key-id>)
 * and buckets (s3buckets/<name>), their JSON encoding and validation (s3_records.c), and the
 * etcd operations on them that need care (s3_store.c: create-if-absent, a bucket delete that
 * refuses a non-empty bucket). No HTTP and no SigV4 here (src/s3, src/gateway/s3_*.c).
 *
 * etcd keys (rows of the key table in manifest.h):
 *
 * | key                        | value                        | builder                 |
 * |----------------------------|------------------------------|-------------------------|
 * | s3keys/<access-key-id>     | access key record (below)    | hs_meta_key_s3key       |
 * | s3buckets/<bucket>         | bucket record (below)        | hs_meta_key_s3bucket    |
 *
 * Identifiers: an access key id is 16..128 chars of [A-Z0-9]; a bucket name (as a key) is
 * 1..63 chars of [a-z0-9.-] (the S3 naming rules, stricter, are checked by the front end before
 * a bucket is created).
 *
 * Access key record (JSON object; members a reader does not know are ignored):
 *
 * | field      | type   | meaning                                                            |
 * |------------|--------|--------------------------------------------------------------------|
 * | v          | int    | format version, 1 (another value: HS_EPROTO on decode)             |
 * | id         | string | the access key id (equals the <access-key-id> of the etcd key)     |
 * | secret     | string | secret access key, 16..128 printable ASCII chars, no space         |
 * | buckets    | array  | bucket names the key may use; absent = every bucket                |
 * | mode       | string | "rw" (read-write) or "ro" (read-only: GET/HEAD/list only)          |
 * | created_ms | int    | creation time, ms since the epoch, >= 0                            |
 * | comment    | string | free text, 0..256 bytes (optional)                                 |
 *
 * Bucket record:
 *
 * | field       | type   | meaning                                                           |
 * |-------------|--------|-------------------------------------------------------------------|
 * | v           | int    | format version, 1                                                 |
 * | name        | string | the bucket name (equals <bucket> of the etcd key)                 |
 * | created_ms  | int    | creation time, ms since the epoch, >= 0                           |
 * | strategy    | string | default strategy of its objects: "auto", "replication", "ec",     |
 * |             |        | "field_hybrid" (docs/s3.md "Storage classes")                     |
 * | public_read | bool   | anonymous GET/HEAD allowed (default false)                        |
 * | owner       | string | access key id that created it (optional, informative)             |
 *
 * Objects of bucket b are the native objects whose keys start with "b/" (docs/s3.md). */
#ifndef HS_S3_RECORDS_H
#define HS_S3_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"
#include "hs/manifest.h"

#define HS_META_PREFIX_S3KEYS    HS_META_ROOT "s3keys/"
#define HS_META_PREFIX_S3BUCKETS HS_META_ROOT "s3buckets/"

#define HS_S3_KEY_ID_MIN      16
#define HS_S3_KEY_ID_MAX      128
#define HS_S3_KEY_SECRET_MIN  16
#define HS_S3_KEY_SECRET_MAX  128
#define HS_S3_BUCKET_MAX      63
#define HS_S3_COMMENT_MAX     256
#define HS_S3_KEY_BUCKETS_MAX 100 /* buckets one key may be limited to */

enum hs_s3_key_mode { HS_S3_KEY_RW = 0, HS_S3_KEY_RO = 1 };

struct hs_s3_key_record {
    char *id;       /* heap */
    char *secret;   /* heap */
    char **buckets; /* heap array of heap names; NULL with all_buckets */
    size_t n_buckets;
    bool all_buckets; /* no "buckets" member */
    enum hs_s3_key_mode mode;
    int64_t created_ms;
    char *comment; /* heap, may be NULL */
};

struct hs_s3_bucket_record {
    char *name; /* heap */
    int64_t created_ms;
    enum hs_strategy strategy; /* 0 = auto */
    bool public_read;
    char *owner; /* heap, may be NULL */
};

bool hs_meta_s3_key_id_valid(const char *id);
bool hs_meta_s3_secret_valid(const char *secret);
bool hs_meta_s3_bucket_name_valid(const char *name);
/* The etcd keys; HS_EINVAL when the id or name breaks its rule. *out heap. */
enum hs_err hs_meta_key_s3key(const char *id, char **out);
enum hs_err hs_meta_key_s3bucket(const char *name, char **out);

/* Encoders return a heap NUL-terminated JSON text (never fail: the caller passes a record
 * whose fields are valid, checked with hs_s3_*_valid; an invalid one is a bug). */
char *hs_s3_key_record_encode(const struct hs_s3_key_record *k);
char *hs_s3_bucket_record_encode(const struct hs_s3_bucket_record *b);
/* Decoders: HS_EPROTO bad JSON, wrong version or a member of the wrong type or out of its
 * rule; out untouched then. On success out owns heap fields (release below). */
enum hs_err hs_s3_key_record_decode(const void *value, size_t len, struct hs_s3_key_record *out);
enum hs_err hs_s3_bucket_record_decode(const void *value, size_t len,
                                       struct hs_s3_bucket_record *out);
void hs_s3_key_record_release(struct hs_s3_key_record *k);
void hs_s3_bucket_record_release(struct hs_s3_bucket_record *b);
/* True when the record may use bucket (every bucket, or one of its list). */
bool hs_s3_key_allows_bucket(const struct hs_s3_key_record *k, const char *bucket);
/* Deep copies (out owns them). */
void hs_s3_key_record_copy(const struct hs_s3_key_record *in, struct hs_s3_key_record *out);
void hs_s3_bucket_record_copy(const struct hs_s3_bucket_record *in,
                              struct hs_s3_bucket_record *out);

/* Strategy names of the bucket record: "auto" for 0, else hs_strategy_name. */
const char *hs_s3_strategy_name(enum hs_strategy s);
/* Parses those names; false for anything else. */
bool hs_s3_strategy_parse(const char *name, enum hs_strategy *out);

/* ---- etcd operations (s3_store.c). All block (one or two etcd round trips), thread-safe. --- */
struct hs_etcd;

/* Creates the bucket record if no bucket of that name exists (one txn, compare create_revision
 * == 0). HS_EEXIST when it exists: *existing (may be NULL) then gets the stored record. */
enum hs_err hs_s3_bucket_create(struct hs_etcd *e, const struct hs_s3_bucket_record *b,
                                struct hs_s3_bucket_record *existing);
/* Reads one bucket record: HS_ENOENT absent. */
enum hs_err hs_s3_bucket_get(struct hs_etcd *e, const char *name, struct hs_s3_bucket_record *out,
                             int64_t *mod_revision_out);
/* Deletes an empty bucket: reads the record (HS_ENOENT absent), checks with one range limited to
 * one key that no object manifest exists under the native prefix "<name>/" (HS_ECONFLICT:
 * BucketNotEmpty), then deletes the record in a txn comparing its mod_revision (a concurrent
 * change: HS_ECONFLICT too). See docs/s3.md "Deleting a bucket" for the race with a concurrent
 * put (an object committed after the check is kept as a native object). */
enum hs_err hs_s3_bucket_delete(struct hs_etcd *e, const char *name);
/* Stores a new key record if its id is not taken (HS_EEXIST). */
enum hs_err hs_s3_key_create(struct hs_etcd *e, const struct hs_s3_key_record *k);
/* Deletes a key record: HS_ENOENT when there was none. */
enum hs_err hs_s3_key_delete(struct hs_etcd *e, const char *id);
/* Reads one key record: HS_ENOENT absent. */
enum hs_err hs_s3_key_get(struct hs_etcd *e, const char *id, struct hs_s3_key_record *out);

#endif

/* upload.h - what etcd stores about multipart uploads (S3 CreateMultipartUpload .. Complete /
 * Abort; docs/s3.md "Multipart"): the upload record and its part records, their etcd keys, JSON
 * encoding and validation, and upload ids. Pure data: no etcd I/O here (src/meta/upload_record.c).
 *
 * etcd keys (rows of the key table of manifest.h):
 *
 * | key                            | value         | notes                                    |
 * |--------------------------------|---------------|------------------------------------------|
 * | upload/<object-key>\x01<id>    | upload record | sorted by object key, then id; \x01 is   |
 * |                                |               | below every byte an object key may hold, |
 * |                                |               | so "a" sorts before "a/b" as S3 lists    |
 * | upart/<upload-id>/<nnnnn>      | part record   | part number, 5 decimal digits (00001..   |
 * |                                |               | 10000): a range reads parts in order and |
 * |                                |               | one prefix delete removes them all       |
 *
 * Upload id: 48 lower-case hex digits: 12 of the wall clock in ms (ids sort by start) and 36 from
 * getrandom(2) (144 bits: unguessable).
 *
 * Upload record JSON, format version 1 (compact, this order; no other member accepted):
 *
 * | field    | type   | meaning                                                             |
 * |----------|--------|---------------------------------------------------------------------|
 * | v        | int    | 1                                                                   |
 * | id       | string | upload id (equals the <id> of the etcd key)                         |
 * | key      | string | object key the upload completes into (the native key "bucket/key")   |
 * | bucket   | string | S3 bucket, 1..255 chars                                             |
 * | s3key    | string | S3 key, 1..1024 bytes (same rule as object keys)                    |
 * | state    | string | "OPEN" (parts may be uploaded), "ABORTED" (the healer's upload pass  |
 * |          |        | deletes its parts' blobs, then the records), "COMPLETED" (the object |
 * |          |        | committed as txn; the pass deletes the blobs of parts it does not use)|
 * | strategy | string | strategy every part is written with ("replication" \| "ec")          |
 * | ctype    | string | content type of the object, as in manifests                         |
 * | attrs    | object | optional: attributes applied at Complete, as a manifest's "attrs"   |
 * | ck_alg   | string | optional: checksum algorithm, "CRC32" \| "CRC32C" \| "CRC64NVME" \|     |
 * |          |        | "SHA1" \| "SHA256"                                                  |
 * | ms       | int    | wall clock ms of CreateMultipartUpload, >= 0                        |
 * | state_ms | int    | wall clock ms of the last state change, >= ms                       |
 * | txn      | string | COMPLETED only: txn id of the commit that made the object           |
 *
 * Part record JSON, format version 1 (value of upart/<id>/<n>; put by the commit of UploadPart
 * in the same etcd transaction that deletes the part's write-ahead record):
 *
 * | field | type   | meaning                                                                |
 * |-------|--------|------------------------------------------------------------------------|
 * | v     | int    | 1                                                                      |
 * | n     | int    | part number, 1..10000                                                  |
 * | size  | int    | bytes of the part                                                      |
 * | md5   | string | 32 lower-case hex digits: MD5 of the part (its ETag)                    |
 * | ck    | string | optional: the part's checksum in the upload's algorithm, base64, 1..88 |
 * | ms    | int    | wall clock ms of the upload of the part                                |
 * | txn   | string | txn id of the write that stored it (its blob ids derive from it)        |
 * | data  | part   | the part's segments and blobs, exactly as a manifest's "data" part     |
 * |       |        | (replicated or ec as "strategy" says; packed or not)                   |
 * | dgr   | bool   | optional, true only: a blob of the part is missing (stored below full  |
 * |       |        | redundancy); Complete then marks the object for repair                 |
 *
 * Errors: decode gives HS_EPROTO for a "v" it does not know and HS_ECORRUPT for anything else
 * that is not a valid record; encode gives HS_EINVAL for a struct that does not validate.
 * Memory: decoded structs own their pointers; _release frees them. Reentrant, non-blocking
 * (hs_upload_id_new reads getrandom, which never blocks after boot). */
#ifndef HS_UPLOAD_H
#define HS_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"
#include "hs/etcd.h"
#include "hs/manifest.h"

#define HS_META_PREFIX_UPLOAD    HS_META_ROOT "upload/"
#define HS_META_PREFIX_UPART     HS_META_ROOT "upart/"
#define HS_UPLOAD_KEY_SEP        '\x01'
#define HS_UPLOAD_RECORD_VERSION 1
#define HS_UPART_RECORD_VERSION  1
#define HS_UPLOAD_ID_CHARS       48
#define HS_UPLOAD_ID_BUF         (HS_UPLOAD_ID_CHARS + 1)
#define HS_UPLOAD_PARTS_MAX      10000
#define HS_UPLOAD_BUCKET_MAX     255
#define HS_UPLOAD_CK_ALG_BUF     16
#define HS_UPART_CK_MAX          88 /* base64 chars: SHA-256 is 44 */

enum hs_upload_state {
    HS_UPLOAD_OPEN = 1,
    HS_UPLOAD_ABORTED = 2,
    HS_UPLOAD_COMPLETED = 3,
};

struct hs_upload_record {
    char id[HS_UPLOAD_ID_BUF];
    char *key;    /* native object key (heap) */
    char *bucket; /* heap */
    char *s3key;  /* heap */
    enum hs_upload_state state;
    enum hs_strategy strategy;         /* replication or ec */
    char *content_type;                /* heap */
    char *attrs_json;                  /* heap compact JSON object, or NULL */
    char ck_alg[HS_UPLOAD_CK_ALG_BUF]; /* "" = none */
    int64_t created_ms;
    int64_t state_ms;
    char txn_id[HS_TXN_ID_BUF]; /* COMPLETED: the object's commit; else "" */
};

struct hs_upart_record {
    uint32_t number;
    int64_t size_bytes;
    char md5_hex[33];
    char checksum[HS_UPART_CK_MAX + 1]; /* "" = none */
    int64_t written_ms;
    char txn_id[HS_TXN_ID_BUF];
    struct hs_part data; /* HS_PART_REPLICATED or HS_PART_EC */
    bool degraded;       /* "dgr": some blob of the part is missing */
};

/* ---- ids and keys ---- */

/* A new upload id into out. HS_EIO when getrandom fails (logged). */
enum hs_err hs_upload_id_new(char out[HS_UPLOAD_ID_BUF]);
bool hs_upload_id_valid(const char *id);
/* "upload/<key>\x01<id>" (heap, free()). HS_EINVAL on a bad key or id. */
enum hs_err hs_meta_key_upload(const char *object_key, const char *upload_id, char **out);
/* Inverse: the object key (heap) and the id of an upload key. HS_EINVAL when not one. */
enum hs_err hs_meta_key_upload_parse(const char *etcd_key, char **object_key_out,
                                     char id_out[HS_UPLOAD_ID_BUF]);
/* "upart/<id>/<nnnnn>"; number 1..HS_UPLOAD_PARTS_MAX. And the prefix of all of them,
 * "upart/<id>/". HS_EINVAL on a bad id or number. */
enum hs_err hs_meta_key_upart(const char *upload_id, uint32_t number, char **out);
enum hs_err hs_meta_key_upart_prefix(const char *upload_id, char **out);
/* The upload id and part number of a part key. HS_EINVAL when not one. */
enum hs_err hs_meta_key_upart_parse(const char *etcd_key, char id_out[HS_UPLOAD_ID_BUF],
                                    uint32_t *number_out);

/* ---- records ---- */

/* "OPEN", "ABORTED", "COMPLETED"; NULL for other values. */
const char *hs_upload_state_name(enum hs_upload_state s);
/* True for the algorithm names of the table (exact, upper case). */
bool hs_upload_ck_alg_valid(const char *alg);

void hs_upload_record_init(struct hs_upload_record *r);
void hs_upload_record_release(struct hs_upload_record *r);
enum hs_err hs_upload_record_validate(const struct hs_upload_record *r, char *why, size_t why_len);
enum hs_err hs_upload_record_encode(const struct hs_upload_record *r, char **out, size_t *len_out,
                                    char *why, size_t why_len);
enum hs_err hs_upload_record_decode(const void *data, size_t len, struct hs_upload_record *out,
                                    char *why, size_t why_len);

void hs_upart_record_init(struct hs_upart_record *r);
void hs_upart_record_release(struct hs_upart_record *r);
enum hs_err hs_upart_record_validate(const struct hs_upart_record *r, char *why, size_t why_len);
enum hs_err hs_upart_record_encode(const struct hs_upart_record *r, char **out, size_t *len_out,
                                   char *why, size_t why_len);
enum hs_err hs_upart_record_decode(const void *data, size_t len, struct hs_upart_record *out,
                                   char *why, size_t why_len);

/* The attributes applied at Complete (the manifest's "attrs", manifest.h), kept in "attrs" as
 * the manifest encodes them. set: a (NULL or empty: none) replaces r's; HS_EINVAL when a does
 * not validate. get: *out (heap, hs_manifest_attrs_free) or NULL when none; HS_ECORRUPT when the
 * stored member is not valid attributes. */
enum hs_err hs_upload_attrs_set(struct hs_upload_record *r, const struct hs_manifest_attrs *a);
enum hs_err hs_upload_attrs_get(const struct hs_upload_record *r, struct hs_manifest_attrs **out);

/* ---- the end of an upload (upload_cleanup.c) ---- */

/* For an upload that is ABORTED or COMPLETED (rec, read from upload_key at mod_revision
 * upload_rev): turns its part records into retire records (the blobs a completed object still
 * references left out while it is the current version), in transactions of at most 48 parts
 * that compare each part record's mod_revision and the n_extra (<= 4) extra compares (the
 * healer's fence), then deletes the upload record (compared on upload_rev and the extras).
 * *parts_out (may be NULL): part records retired. HS_EINVAL for an OPEN upload, HS_ECONFLICT
 * when a compare failed (call again later), HS_ECORRUPT when a part record is unreadable (it
 * and the upload record are left), etcd's errors. Blocks. */
enum hs_err hs_upload_retire_parts(struct hs_etcd *e, const char *upload_key, int64_t upload_rev,
                                   const struct hs_upload_record *rec,
                                   const struct hs_etcd_cmp *extra, size_t n_extra,
                                   size_t *parts_out);

#endif

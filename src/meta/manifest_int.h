/* manifest_int.h - declarations shared by the manifest files of the meta module (not a
 * contract: see include/hs/manifest.h). */
#ifndef HS_MANIFEST_INT_H
#define HS_MANIFEST_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hs/manifest.h"

/* Formats a failure reason into why (when not NULL). */
void hs_meta_why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A time-ordered id into out (12 + 2 * rnd_bytes + 1 bytes): 12 hex digits of the wall clock in
 * ms, then rnd_bytes (at most 32) from getrandom(2) in hex. HS_EIO when getrandom fails (logged
 * as event); HS_EINVAL when rnd_bytes is too large. */
enum hs_err hs_meta_time_id_new(char *out, size_t rnd_bytes, const char *event);

/* True when s is exactly n chars of [0-9a-f]. */
bool hs_meta_is_lower_hex(const char *s, size_t n);

/* True when no (blob id, node id) pair occurs twice in locs (sorts a copy: O(n log n)).
 * On a duplicate, *dup_out points at one of them. */
bool hs_meta_locs_unique(const struct hs_meta_blob_loc *locs, size_t n,
                         struct hs_meta_blob_loc *dup_out);

/* Validates the text fields shared by both records. */
bool hs_meta_etag_valid(const char *etag);
bool hs_meta_content_type_valid(const char *ct);

/* JSON helpers shared by manifest_json.c and manifest_txn.c. Decoding ones return false after
 * writing a reason "<path>.<name>: ..." into why. */
/* Size limit, parse (duplicate keys rejected), top level must be an object whose "v" equals
 * version. HS_ECORRUPT or HS_EPROTO (unknown version); *root_out owned by the caller. */
/* Standard padded base64 (b64.c) of len bytes: heap string. */
char *hs_meta_b64_encode(const void *data, size_t len);
/* Strict decode of text_len chars: *out heap (NUL-terminated for convenience), *out_len bytes;
 * HS_EPROTO (outs untouched) for anything but canonical padded base64. */
enum hs_err hs_meta_b64_decode(const char *text, size_t text_len, uint8_t **out, size_t *out_len);

enum hs_err hs_mj_load(const void *data, size_t len, int64_t version, json_t **root_out, char *why,
                       size_t why_len);
/* Same, accepting any "v" in min..max; *version_out (may be NULL) gets it. */
enum hs_err hs_mj_load_versions(const void *data, size_t len, int64_t min_version,
                                int64_t max_version, json_t **root_out, int64_t *version_out,
                                char *why, size_t why_len);
/* False when obj is not an object or has a member whose name is not in allowed. */
bool hs_mj_check_keys(const json_t *obj, const char *const *allowed, size_t n_allowed,
                      const char *path, char *why, size_t why_len);
/* Required string member (no NUL inside), copied to the heap. */
bool hs_mj_str(const json_t *obj, const char *name, const char *path, char **out, char *why,
               size_t why_len);
/* Required integer member in min..max. */
bool hs_mj_int(const json_t *obj, const char *name, const char *path, int64_t min, int64_t max,
               int64_t *out, char *why, size_t why_len);
/* Required CRC32C member: exactly 8 lower-case hex digits. */
bool hs_mj_crc(const json_t *obj, const char *name, const char *path, uint32_t *out, char *why,
               size_t why_len);
/* obj[name] = value, stealing value; aborts on allocation failure (jansson returns NULL). */
void hs_mj_set(json_t *obj, const char *name, json_t *value);
/* New JSON string; aborts on failure (callers validated the text first). */
json_t *hs_mj_string(const char *s);
json_t *hs_mj_crc_new(uint32_t crc);
/* The "attrs" member (manifest_attrs.c): encode a non-empty set; decode root's member, if
 * any, into m->attrs (false with a reason; m->attrs may be set then, m's release frees it). */
json_t *hs_mj_attrs_to_json(const struct hs_manifest_attrs *a);
bool hs_mj_attrs_from_json(const json_t *root, int64_t version, struct hs_manifest *m, char *why,
                           size_t why_len);
/* Compact text of root (always consumed): HS_ETOOBIG over HS_MANIFEST_ENCODED_MAX. */
enum hs_err hs_mj_dump(json_t *root, char **out, size_t *len_out, char *why, size_t why_len);

/* One part as JSON (manifest format, packed when p->packed) and back (kind given by the
 * caller; offsets fixed); hs_meta_part_check is the part rules of hs_manifest_validate. Shared
 * with the multipart part records (upload_record.c). */
json_t *hs_mj_part_to_json(const struct hs_part *p);
bool hs_mj_part_from_json(const json_t *j, enum hs_part_kind kind, const char *path,
                          struct hs_part *p, char *why, size_t why_len);
enum hs_err hs_meta_part_check(const struct hs_part *p, enum hs_part_kind kind, const char *path,
                               char *why, size_t why_len);

/* Packed segment lists (manifest_packed.c, format version 2): sets "nodes" and "segz" of the
 * part object j from p's segments; decodes them into p (segments appended, packed set), false
 * with a reason on anything malformed (what was decoded stays in p for hs_part_release). */
void hs_mj_packed_set(json_t *j, const struct hs_part *p);
bool hs_mj_packed_from_json(const json_t *j, const char *path, struct hs_part *p, char *why,
                            size_t why_len);

#endif

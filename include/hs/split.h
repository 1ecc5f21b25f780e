/* split.h - field-level hybrid JSON: validate a document, split its top-level members into a hot
 * part and a cold part (client bytes kept exactly, never re-serialised), hash the cold part over a
 * canonical form, merge the parts back, and apply RFC 7396 merge patches to a stored hot part.
 * Pure: no I/O, no threads, no configuration reading; every function is thread-safe on distinct
 * outputs, and a hot set is read-only (shareable between threads) once built.
 *
 * Accepted input (strict RFC 8259): exactly one object at top level, optional whitespace
 * (space, tab, LF, CR) around it; strings of valid UTF-8 (no overlongs, no surrogates, nothing past
 * U+10FFFF) with valid escapes and \u surrogates in pairs; numbers without leading zeros; nesting
 * at most max_depth containers deep (the top-level object counts as 1); no duplicate TOP-LEVEL keys
 * (compared after unescaping, so "a" and "\u0061" are duplicates). Nested duplicate keys are
 * accepted (RFC 8259 only says SHOULD be unique), except inside a merge patch, where they would
 * make the patch ambiguous. "\u0000" is accepted (RFC 8259 allows it). Numbers of any size and
 * precision are accepted and kept as sent (123456789012345678901234567890, 1.0e+400).
 * Differences from jansson 2.14 (the test oracle): jansson rejects numbers it cannot hold in a
 * double/int64 and nested duplicate keys (with JSON_REJECT_DUPLICATES), and accepts a raw NUL
 * byte outside strings in some places ({"a":false<NUL>}); we accept the former, reject the latter.
 * The empty object {} is accepted here: hot {}, cold {}, order []; whether an empty document is a
 * valid write is the API layer's decision (the reference API answers 422).
 *
 * Parts (what the gateway stores): {"<key>":<value>,...} with the client's key and value bytes
 * exactly, no whitespace between members, members in document order. A part is itself a valid
 * document for every function here.
 *
 * Order record (stored in the manifest, format version 1): a JSON array of strings, one per
 * top-level member in document order; each string is one flag character followed by the key as the
 * client escaped it:
 *
 *   | element          | meaning                                          |
 *   |------------------|--------------------------------------------------|
 *   | "h" + key        | the member is in the hot part                    |
 *   | "c" + key        | the member is in the cold part                   |
 *
 *   | "s" + key        | version 2: a member of the cold part that is not    |
 *   |                  | part of the document (a shadow; merge skips it)   |
 *
 *   e.g. {"title":"x","like_count":3} -> ["ctitle","hlike_count"]
 * A shadow is left by a write that kept the stored cold part's blobs although it no longer keeps
 * that member cold: the field moved to the hot part (a promotion; the hot part then has a member
 * of the same key, which is the live one) or was removed. Shadows may stand anywhere in the
 * record; their keys are unique among shadows and name cold-part members no "c" entry names.
 * Keys are matched after unescaping, so re-serialising the record (e.g. through jansson, which
 * needs JSON_ALLOW_NUL for keys holding \u0000) keeps it valid. The record carries no version
 * itself: the manifest stores its version next to it: HS_SPLIT_ORDER_VERSION (1) without
 * shadows, HS_SPLIT_ORDER_VERSION_SHADOWS (2) with them, so that readers that do not know
 * shadows refuse such a record instead of misreading it.
 *
 * Cold hash: XXH3-128 (seed 0) of the canonical form of the cold part, as the 16 bytes of
 * XXH128_canonicalFromHash (big-endian high64 then low64). Canonical form: {"k":v,...} with the
 * members sorted by the raw bytes of their keys (the bytes between the quotes, escapes as sent;
 * memcmp order, shorter first on a tie), and whitespace
 * outside strings removed everywhere, nested values included. Strings, escapes, numbers and nested
 * member order are hashed byte-exactly: a client that changes any of those changes the hash (the
 * stored bytes would otherwise be served for its new version). Only top-level order and whitespace
 * do not count; after a pure hot update, cold values keep the whitespace of the write that stored
 * them. */
#ifndef HS_SPLIT_H
#define HS_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/buf.h"
#include "hs/err.h"

#define HS_SPLIT_DEFAULT_MAX_DEPTH 64
/* Larger max_depth values are refused: the patch merge recurses once per nesting level. */
#define HS_SPLIT_MAX_MAX_DEPTH         1024
#define HS_SPLIT_HASH_BYTES            16
#define HS_SPLIT_ORDER_VERSION         1
#define HS_SPLIT_ORDER_VERSION_SHADOWS 2
#define HS_SPLIT_ORDER_VERSION_MAX     2 /* the newest this code reads */
/* The cluster-wide default hot set (docs/design.md), for hs_split_hotset_new_csv. */
#define HS_SPLIT_DEFAULT_HOT_FIELDS "like_count,view_count,inventory_count,update_count"

/* What is wrong with a document. Names (hs_split_error_name) are stable: they travel in JSON
 * error bodies. Values are appended, never renumbered. The offset rule per code is given. */
enum hs_split_error_code {
    HS_SPLIT_OK = 0,
    HS_SPLIT_EMPTY,         /* "empty": nothing but whitespace; offset = length */
    HS_SPLIT_NOT_OBJECT,    /* "not_object": top-level value is not an object; its first byte */
    HS_SPLIT_SYNTAX,        /* "syntax": a byte that cannot come here; that byte */
    HS_SPLIT_TRUNCATED,     /* "truncated": the document ends inside a value; offset = length */
    HS_SPLIT_BAD_ESCAPE,    /* "bad_escape": \x or \u without 4 hex digits; the backslash */
    HS_SPLIT_BAD_SURROGATE, /* "bad_surrogate": unpaired \uD800-\uDFFF; its backslash */
    HS_SPLIT_BAD_UTF8,      /* "bad_utf8": invalid, overlong, surrogate or > U+10FFFF; lead byte */
    HS_SPLIT_CONTROL_CHAR,  /* "control_char": raw byte < 0x20 in a string; that byte */
    HS_SPLIT_LEADING_ZERO,  /* "leading_zero": 01, -00; the leading '0' */
    HS_SPLIT_BAD_NUMBER,    /* "bad_number": no digit after '-', '.', 'e'; the byte found instead */
    HS_SPLIT_DUPLICATE_KEY, /* "duplicate_key": the second occurrence's opening quote */
    HS_SPLIT_TOO_DEEP,      /* "too_deep": the '{' or '[' one past max_depth */
    HS_SPLIT_TRAILING,      /* "trailing": non-whitespace after the object; its first byte */
    HS_SPLIT_TOO_BIG,       /* "too_big": documents of 4 GiB or more; offset 0 */
    HS_SPLIT_ERROR_COUNT_   /* keep last */
};

/* Details of a rejected document; written only when a function returns HS_EINVAL or
 * HS_ECORRUPT because of bad JSON (code HS_SPLIT_OK otherwise). */
struct hs_split_error {
    enum hs_split_error_code code;
    size_t offset; /* bytes from the start of the offending input */
};

/* Options; a zeroed struct (or NULL) means the defaults. */
struct hs_split_opts {
    unsigned max_depth; /* containers, top-level object = 1; 0 = HS_SPLIT_DEFAULT_MAX_DEPTH */
};

/* Stable snake_case name ("duplicate_key"); never NULL ("unknown" for bad values). */
const char *hs_split_error_name(enum hs_split_error_code code);
/* English text ("duplicate top-level key"); never NULL. */
const char *hs_split_error_text(enum hs_split_error_code code);
/* Writes "<text> at byte <offset>" (NUL-terminated, truncated to cap) for messages and logs. */
void hs_split_error_format(const struct hs_split_error *e, char *out, size_t cap);

/* Is body exactly one valid JSON object? HS_OK, or HS_EINVAL with *err filled (err may be NULL);
 * HS_EINVAL without a JSON error (code OK) when opts->max_depth is out of range. */
enum hs_err hs_split_validate(const struct hs_split_opts *opts, const uint8_t *body, size_t len,
                              struct hs_split_error *err);

/* ---- hot set: names of the top-level fields kept hot ---------------------------------------- */

struct hs_split_hotset;

/* Builds a set from n plain UTF-8 names (not JSON-escaped; may contain any byte but must be valid
 * UTF-8), copied. Repeated names are ignored. HS_EINVAL for invalid UTF-8 (out untouched).
 * Free with hs_split_hotset_free. */
enum hs_err hs_split_hotset_new(const char *const *names, size_t n, struct hs_split_hotset **out);
/* Same from a comma-separated list ("like_count, view_count"): spaces and tabs around names are
 * dropped, empty names skipped. Names cannot contain commas this way. */
enum hs_err hs_split_hotset_new_csv(const char *list, struct hs_split_hotset **out);
void hs_split_hotset_free(struct hs_split_hotset *hs);
/* Membership of an unescaped key of len bytes; hs NULL = empty set. O(1), thread-safe. */
bool hs_split_hotset_contains(const struct hs_split_hotset *hs, const void *key, size_t len);
size_t hs_split_hotset_count(const struct hs_split_hotset *hs);

/* ---- split ------------------------------------------------------------------------------------
 */

/* One top-level member of a split document (hs_split_result.fields). Its digest is XXH3-64
 * (seed 0) of the value's canonical form (whitespace outside strings removed, everything else
 * byte-exact, as for the cold hash): equal digests mean the stored value need not change. */
struct hs_split_field {
    uint64_t digest;   /* of the value, see above */
    uint32_t name_off; /* unescaped key: names.data + name_off, name_len bytes */
    uint32_t name_len;
    uint32_t value_len; /* bytes of the value as sent */
    bool hot;           /* went to the hot part */
};

struct hs_split_result {
    struct hs_buf hot;                      /* hot part, see top of file */
    struct hs_buf cold;                     /* cold part */
    struct hs_buf order;                    /* order record */
    uint8_t cold_hash[HS_SPLIT_HASH_BYTES]; /* hash of the canonical cold part */
    size_t n_hot;                           /* members in the hot part */
    size_t n_cold;                          /* members in the cold part */
    /* Per-member details: set want_fields after hs_split_result_init to have hs_split_document
     * fill fields[0..n_fields) (document order, n_hot + n_cold of them) and names (unescaped
     * keys back to back; not bounded by max_bytes: at most the document's size). */
    bool want_fields;
    struct hs_split_field *fields; /* heap, owned by the result */
    size_t n_fields;
    size_t fields_cap;
    struct hs_buf names;
};

/* Empty result whose three buffers may each grow up to max_bytes (0 = unlimited). */
void hs_split_result_init(struct hs_split_result *r, size_t max_bytes);
/* Frees the buffers; r may be NULL. */
void hs_split_result_release(struct hs_split_result *r);

/* Validates body and splits it: members whose unescaped key is in hot (NULL = none) go to the hot
 * part, the rest to the cold part. r comes from hs_split_result_init; its buffers are reset first
 * (memory kept, so one result can serve many calls). One pass over body, one copy of it and a
 * sort of the cold keys; no tree is built. Errors: HS_EINVAL (bad JSON, *err filled; err may be
 * NULL; also bad opts), HS_ETOOBIG (a part passed its buffer's max_bytes). On error r's buffers
 * are left empty. Does not block. */
enum hs_err hs_split_document(const struct hs_split_opts *opts, const struct hs_split_hotset *hot,
                              const uint8_t *body, size_t len, struct hs_split_result *r,
                              struct hs_split_error *err);

/* Cold hash of any valid object (e.g. a stored cold part: gives back the cold_hash that
 * hs_split_document computed for it). HS_EINVAL with *err on bad JSON; hash untouched then. */
enum hs_err hs_split_cold_hash(const struct hs_split_opts *opts, const uint8_t *cold, size_t len,
                               uint8_t hash[HS_SPLIT_HASH_BYTES], struct hs_split_error *err);

/* 32 lower-case hex digits and a NUL, for manifests and logs. */
void hs_split_hash_hex(const uint8_t hash[HS_SPLIT_HASH_BYTES],
                       char out[2 * HS_SPLIT_HASH_BYTES + 1]);

/* ---- merge --------------------------------------------------------------------------------------
 */

/* Appends to out the document {"k":v,...} with the members of hot and cold in the order the order
 * record gives (keys and values byte-exact; no whitespace between members), shadows left out.
 * Every record entry must name a member of the part its flag says, and every member must be
 * named exactly once.
 * Errors: HS_ECORRUPT (a part or the record is invalid or they disagree; *err filled when a part
 * or the record is bad JSON, err may be NULL), HS_ETOOBIG (out's cap), HS_EINVAL (bad opts);
 * out unchanged on error. */
enum hs_err hs_split_merge(const struct hs_split_opts *opts, const uint8_t *hot, size_t hot_len,
                           const uint8_t *cold, size_t cold_len, const uint8_t *order,
                           size_t order_len, struct hs_buf *out, struct hs_split_error *err);

/* ---- shadows (order record version 2) --------------------------------------------------------
 */

/* Can a new document, split as `split`, keep the stored cold part `cold` (whatever its members'
 * order and whitespace)? *same = true when every member of split's cold part is a member of
 * `cold` with the same canonical value (their canonical hash equals split->cold_hash); the
 * members of `cold` the split does not keep cold become shadows. Then the record to store (split's
 * order record plus one "s" entry per shadow) is appended to order_out, and *live_len is the
 * length of the cold part without its shadows ({members as stored, no whitespace between}),
 * which is what the cold part adds to a merged document. *same = false changes nothing.
 * Errors: HS_ECORRUPT (`cold` is not a valid object), HS_EINVAL (bad opts or split),
 * HS_ETOOBIG (order_out's cap). Pure: `cold` is read, not kept. */
enum hs_err hs_split_shadow(const struct hs_split_opts *opts, const uint8_t *cold, size_t cold_len,
                            const struct hs_split_result *split, struct hs_buf *order_out,
                            size_t *live_len, bool *same);

/* The same without reading the stored cold part, for a document whose cold values are known to
 * be the stored ones (it was read from that very version: a re-layout). `old` is the stored
 * order record. *same = true when every member of split's cold part is a live cold member ("c")
 * of old; then split's record plus the shadows (old's "c" members split does not keep cold, and
 * old's shadows) is appended to order_out. The cold part's live length is split->cold.len.
 * Errors: HS_ECORRUPT (old does not parse), HS_EINVAL (split's cold part does not parse). */
enum hs_err hs_split_shadow_by_record(const uint8_t *old, size_t old_len,
                                      const struct hs_split_result *split, struct hs_buf *order_out,
                                      bool *same);

/* Appends to out the record `order` (a new document's) plus the shadows of the record `old`: for
 * a write that keeps old's cold part as it is (equal cold hashes), whose shadows therefore stay.
 * HS_ECORRUPT when old does not parse, HS_EINVAL when order is not a record. */
enum hs_err hs_split_order_keep_shadows(const uint8_t *order, size_t order_len, const uint8_t *old,
                                        size_t old_len, struct hs_buf *out);

/* The shadows a record names; -1 when it does not parse. */
long hs_split_order_shadows(const uint8_t *order, size_t len);

/* The version a record needs: HS_SPLIT_ORDER_VERSION_SHADOWS when it has shadows, else
 * HS_SPLIT_ORDER_VERSION; 0 when it does not parse. */
int hs_split_order_version(const uint8_t *order, size_t len);

/* ---- merge patch (RFC 7396) on the hot part
 * ------------------------------------------------------ */

/* Applies the merge patch object patch to a stored hot part without the cold part. A top-level
 * patch member touches the cold part when the order record lists its key as cold, or when the key
 * is absent and not in hot_set while its value is not null (that would add a cold member); then
 * *touches_cold = true, nothing is appended, and the caller must do a full read-modify-write.
 * Otherwise *touches_cold = false and the new hot part and order record are appended to hot_out and
 * order_out: patched members replaced in place (null deletes; an object value merges recursively
 * per RFC 7396; untouched values byte-exact), new hot members appended in patch order, deleted keys
 * removed from the record, new ones appended as "h". A nested value that is rewritten loses its
 * whitespace between members; its unchanged leaves keep their bytes.
 * RFC 7396 cannot express "set to null" (null deletes), and arrays are replaced whole.
 * Errors: HS_EINVAL (the patch is not a valid object, has duplicate keys in an object the merge
 * walks into, or bad opts: *err filled for JSON errors, offsets into patch), HS_ECORRUPT (stored
 * hot part or record invalid or inconsistent), HS_ETOOBIG (a buffer's cap). Outputs untouched on
 * error. A patch that touches the cold part is reported before its nested objects are checked. */
enum hs_err hs_split_patch(const struct hs_split_opts *opts, const struct hs_split_hotset *hot_set,
                           const uint8_t *hot, size_t hot_len, const uint8_t *order,
                           size_t order_len, const uint8_t *patch, size_t patch_len,
                           struct hs_buf *hot_out, struct hs_buf *order_out, bool *touches_cold,
                           struct hs_split_error *err);

#endif

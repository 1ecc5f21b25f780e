/* split_int.h - module-private: the strict JSON scanner and the flat member list it produces for
 * one object (direct members only; nested values are validated and skipped, never stored). */
#ifndef HS_SPLIT_INT_H
#define HS_SPLIT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/split.h"

/* hs_jmember.flags. ESCAPED: the key has escapes, its unescaped form lives in hs_jobj.keys.
 * VALUE_WS: the value holds whitespace between tokens (the canonical form strips it).
 * USED: scratch mark for merge and patch. HOT: split sends the member to the hot part. */
#define HS_JM_ESCAPED  1u
#define HS_JM_VALUE_WS 2u
#define HS_JM_USED     4u
#define HS_JM_HOT      8u

/* One member of an object. Offsets are into the document the object was parsed from; documents
 * are < 4 GiB (HS_SPLIT_TOO_BIG), which keeps this at 28 bytes for top-level-heavy documents. */
struct hs_jmember {
    uint32_t key_off;  /* the key's opening quote */
    uint32_t key_len;  /* raw key bytes including both quotes */
    uint32_t val_off;  /* first byte of the value */
    uint32_t val_len;  /* value bytes, no surrounding whitespace */
    uint32_t ukey_off; /* unescaped key: into doc, or into keys when HS_JM_ESCAPED */
    uint32_t ukey_len; /* unescaped key bytes */
    uint32_t flags;    /* HS_JM_* */
};

/* The members of one object plus an open-addressing index by unescaped key. */
struct hs_jobj {
    const uint8_t *doc;   /* borrowed document */
    struct hs_jmember *m; /* members in document order */
    size_t n, cap;        /* used and allocated entries of m */
    uint8_t *keys;        /* unescaped forms of escaped keys */
    size_t keys_len, keys_cap;
    uint64_t *table;   /* hash high bits << 32 | (member index + 1); 0 = empty slot */
    size_t table_size; /* power of two, > 2 * n */
};

void hs_jobj_init(struct hs_jobj *o, const uint8_t *doc);
void hs_jobj_release(struct hs_jobj *o);
/* Unescaped key of member i. */
const uint8_t *hs_jobj_ukey(const struct hs_jobj *o, size_t i);
/* Index of the member with this unescaped key, or SIZE_MAX. */
size_t hs_jobj_find(const struct hs_jobj *o, const uint8_t *key, size_t len);
/* Appends a member (key_off/key_len/val_* filled by the caller); unescapes the key when escaped.
 * skip_flag drops the first unescaped byte from the indexed key (order record entries). */
void hs_jobj_push(struct hs_jobj *o, const struct hs_jmember *mem, bool escaped, bool skip_flag);
/* Builds the index by unescaped key (needed by hs_jobj_find). Returns the first member whose key
 * repeats an earlier one (the index is then incomplete), or SIZE_MAX. */
size_t hs_jobj_index(struct hs_jobj *o);

#define HS_JPARSE_WHOLE    1u /* doc[0, len) must be exactly the object, whitespace around it */
#define HS_JPARSE_NO_INDEX 2u /* skip hs_jobj_index: no duplicate check, no hs_jobj_find */

/* Parses the object whose '{' is at start (HS_JPARSE_WHOLE: start is ignored) into o, which must
 * be empty, and indexes it (rejecting duplicate keys) unless HS_JPARSE_NO_INDEX. max_depth counts
 * the object itself as 1. Returns HS_SPLIT_OK or the error code with *err_off. */
enum hs_split_error_code hs_json_parse_object(struct hs_jobj *o, const uint8_t *doc, size_t len,
                                              size_t start, unsigned max_depth, unsigned flags,
                                              size_t *err_off);

/* Scans the string whose opening quote is at *pos; *pos becomes the offset after the closing
 * quote. *escaped tells whether it holds a backslash. */
enum hs_split_error_code hs_json_scan_string(const uint8_t *p, size_t n, size_t *pos, bool *escaped,
                                             size_t *err_off);

/* Offset after the closing quote of a VALID string token whose opening quote is at i. */
size_t hs_json_string_end(const uint8_t *p, size_t n, size_t i);

/* Appends the unescaped contents of a VALID string token (quotes included in tok) to out, which
 * must have room for tok_len bytes (unescaping never grows). Returns the bytes written. */
size_t hs_json_unescape(const uint8_t *tok, size_t tok_len, uint8_t *out);

/* Index of the first byte at or after i that is not JSON whitespace. */
size_t hs_json_skip_ws(const uint8_t *p, size_t n, size_t i);

/* Resolves opts: HS_OK and *max_depth, or HS_EINVAL when max_depth is out of range. */
enum hs_err hs_split_opts_depth(const struct hs_split_opts *opts, unsigned *max_depth);

/* Parses an order record into o: one member per entry, key_* = the string token, ukey = the
 * unescaped key without its flag, flags bit HS_JM_USED clear; the flag byte goes to flags_out[i]
 * ('h' or 'c'; flags_out is allocated, free() it). Shadow ("s") entries go to sh instead (a jobj
 * initialised on rec), each list indexed on its own; with sh NULL they are a defect. Returns
 * false on any defect. */
bool hs_order_parse(struct hs_jobj *o, struct hs_jobj *sh, const uint8_t *rec, size_t len,
                    uint8_t **flags_out, struct hs_split_error *err);

/* Streams the canonical form (see split.h) of the members idx[0..n) of o into an XXH3-128. */
void hs_split_canonical_hash(const struct hs_jobj *o, const uint32_t *idx, size_t n,
                             uint8_t out[HS_SPLIT_HASH_BYTES]);

/* Sets *err (when err is non-NULL). */
void hs_split_set_error(struct hs_split_error *err, enum hs_split_error_code code, size_t off);

#endif

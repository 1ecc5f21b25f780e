/* api_read.h - private to the read handlers (api_v1_read.c, api_ref_read.c): sending an open
 * object reader as an HTTP response. The first bytes are read before any header goes out, so
 * every error that can still be reported (missing object, too few nodes, a range that a newer
 * version no longer satisfies) gets a proper status; later errors cut the connection. */
#ifndef HS_GATEWAY_API_READ_H
#define HS_GATEWAY_API_READ_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/gateway.h"
#include "hs/http_server.h"

#define HS_GW_FIRST_CHUNK ((size_t)256 * 1024) /* objects up to this size go from one buffer */

struct hs_gw_read_start {
    uint8_t *first; /* heap: the first bytes of the body */
    size_t first_len;
};

/* Reads up to HS_GW_FIRST_CHUNK bytes (the whole body when it is that small). On error st is
 * untouched and the reader stays open (the caller answers and closes it). */
enum hs_err hs_gw_read_start(struct hs_obj_reader *rd, struct hs_gw_read_start *st);

/* Responds with status and content_type (plus whatever headers the caller added): from st's
 * buffer when it holds the whole body, else streamed (an error after the first byte aborts the
 * connection); a streamed response holds what its reader keeps in body-buffer-budget until it
 * is done. Takes rd and st in every case. HS_OK: responded. HS_EBUSY: the budget is full,
 * nothing was sent: the caller answers 503 (with Retry-After). */
enum hs_err hs_gw_respond_reader(struct hs_http_req *r, unsigned status, const char *content_type,
                                 struct hs_obj_reader *rd, struct hs_gw_read_start *st);
/* api_project.c: the projection of key named by q ("a,b", the ?fields= value) into out (the
 * caller's buffer, replaced), with X-HS-Projection added to r and the read counted in the field
 * statistics. HS_EINVAL with msg for a bad list or an object that is not JSON; the errors of
 * hs_obj_project otherwise. info describes the version read. */
#define HS_GW_FIELDS_MAX     256  /* names in one ?fields= */
#define HS_GW_FIELD_NAME_MAX 1024 /* bytes of one name */
struct hs_buf;
enum hs_err hs_gw_project(struct hs_http_req *r, const char *key, size_t klen, const char *q,
                          struct hs_buf *out, struct hs_obj_info *info, char *msg, size_t msg_len);

#define HS_GW_READ_BUSY_MSG                                                                        \
    "gateway busy: responses being sent hold body-buffer-budget; retry later"

#endif

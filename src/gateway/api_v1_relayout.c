/* api_v1_relayout.c - POST /v1/admin/relayout/<key>?rev=N[&promote=a,b] (cluster secret,
 * routes.c's guard): the healer's background re-layout of one object (obj_relayout.c). promote
 * lists the fields the re-layout may move into the hot part (comma-separated, URL-encoded;
 * empty: none; absent: every field the layout has hot); demotions always move. Answers 200
 * {"key","outcome","version","hot_bytes","cold_bytes"}; 409 when the manifest no longer has
 * mod_revision N, 412 when a client write won the race, 404 when the object is gone. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/api.h"
#include "gateway/api_common.h"
#include "gateway/gateway.h"
#include "hs/buf.h"
#include "hs/http_server.h"
#include "hs/layout.h"
#include "hs/banned.h"

void hs_gw_v1_admin_relayout_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    const char *key = NULL;
    size_t klen = 0;
    if (!hs_gw_v1_req_key(r, &key, &klen))
        return;
    const char *rev_text = hs_http_req_query(r, "rev");
    char *end = NULL;
    errno = 0;
    long long rev = rev_text ? strtoll(rev_text, &end, 10) : 0;
    if (!rev_text || !*rev_text || *end || errno || rev <= 0) {
        hs_gw_respond_err(r, HS_EINVAL, "rev: want the manifest's mod_revision (an integer > 0)");
        return;
    }
    /* promote=a,b (no name holds a comma: projections, which are what promotions are for,
     * cannot name one either) */
    const char *promote_text = hs_http_req_query(r, "promote");
    struct hs_layout_fields listed = {0};
    if (promote_text && hs_layout_fields_parse_csv(&listed, promote_text) != HS_OK) {
        hs_gw_respond_err(r, HS_EINVAL, "promote: at most 64 valid field names");
        return;
    }
    struct hs_obj_relayout_promote promote = {.names = (const char *const *)listed.names,
                                              .n = listed.n};
    struct hs_obj_relayout_result res;
    char msg[256] = "";
    enum hs_err err =
        hs_obj_relayout(srv->gw, key, klen, (int64_t)rev, promote_text ? &promote : NULL,
                        hs_http_req_id(r), &res, msg, sizeof msg);
    hs_layout_fields_release(&listed);
    if (err != HS_OK) {
        hs_gw_retry_after(r, err);
        hs_gw_respond_err(r, err, msg);
        return;
    }
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_append(&b, "{\"key\":", 7);
    hs_gw_json_cstr(&b, key);
    (void)hs_buf_printf(&b,
                        ",\"outcome\":\"%s\",\"version\":%" PRId64 ",\"hot_bytes\":%" PRId64
                        ",\"cold_bytes\":%" PRId64 "}",
                        res.outcome, res.version, res.hot_bytes, res.cold_bytes);
    hs_gw_respond_json(r, 200, &b);
    hs_buf_release(&b);
}

/* api_project.c - the projection read of both front ends (api_read.h): GET
 * /v1/objects/<key>?fields=a,b and GET /read/<key>?fields=a,b answer the named top-level members
 * of a JSON object (hs_obj_project), with X-HS-Projection: hot (one hot replica was read) or
 * full (the whole object was). Counted in the field statistics (adaptive.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/adaptive.h"
#include "gateway/api.h"
#include "gateway/api_common.h"
#include "gateway/api_read.h"
#include "gateway/gateway.h"
#include "hs/mem.h"
#include "hs/banned.h"

/* Splits "a,b,c" into heap copies (names trimmed of spaces; empty ones refused). */
static bool parse_fields(const char *q, char ***out, size_t *n_out, char *msg, size_t msg_len)
{
    char **names = hs_xcalloc(HS_GW_FIELDS_MAX, sizeof *names);
    size_t n = 0;
    const char *p = q;
    for (;;) {
        const char *end = strchr(p, ',');
        const char *e = end ? end : p + strlen(p);
        const char *a = p;
        while (a < e && *a == ' ')
            a++;
        while (e > a && e[-1] == ' ')
            e--;
        if (e == a || n == HS_GW_FIELDS_MAX || (size_t)(e - a) > HS_GW_FIELD_NAME_MAX) {
            snprintf(msg, msg_len,
                     "?fields= wants 1..%d comma-separated names of 1..%d bytes, none empty",
                     HS_GW_FIELDS_MAX, HS_GW_FIELD_NAME_MAX);
            for (size_t i = 0; i < n; i++)
                free(names[i]);
            free(names);
            return false;
        }
        names[n++] = hs_xstrndup(a, (size_t)(e - a));
        if (!end)
            break;
        p = end + 1;
    }
    *out = names;
    *n_out = n;
    return true;
}

static void free_fields(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

enum hs_err hs_gw_project(struct hs_http_req *r, const char *key, size_t klen, const char *q,
                          struct hs_buf *out, struct hs_obj_info *info, char *msg, size_t msg_len)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    char **names = NULL;
    size_t n = 0;
    if (!parse_fields(q, &names, &n, msg, msg_len))
        return HS_EINVAL;
    bool from_hot = false;
    enum hs_err err = hs_obj_project(srv->gw, key, klen, (const char *const *)names, n, out, info,
                                     &from_hot, msg, msg_len);
    if (err == HS_OK) {
        hs_gw_fstats_read(srv->gw, key, klen, (const char *const *)names, n, true, from_hot);
        hs_http_add_header(r, "X-HS-Projection", from_hot ? "hot" : "full");
    }
    free_fields(names, n);
    return err;
}

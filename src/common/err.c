/* err.c - names, texts and HTTP statuses of enum hs_err, from one table. */
#include "hs/err.h"

#include <stddef.h>

#include "hs/banned.h"

struct err_row {
    const char *name;
    const char *text;
    int http_status;
};

static const struct err_row err_table[HS_ERR_COUNT_] = {
    [HS_OK] = {"OK", "success", 200},
    [HS_EINVAL] = {"EINVAL", "invalid argument", 400},
    [HS_EIO] = {"EIO", "input/output error", 500},
    [HS_ENOSPC] = {"ENOSPC", "not enough free space", 507},
    [HS_ENOENT] = {"ENOENT", "not found", 404},
    [HS_EEXIST] = {"EEXIST", "already exists", 409},
    [HS_ECORRUPT] = {"ECORRUPT", "checksum or format mismatch", 500},
    [HS_ETIMEDOUT] = {"ETIMEDOUT", "timed out", 504},
    [HS_EUNAVAIL] = {"EUNAVAIL", "not enough nodes or shards available", 503},
    [HS_ECONFLICT] = {"ECONFLICT", "conflict with a concurrent change", 409},
    [HS_EPROTO] = {"EPROTO", "unexpected reply from a peer", 502},
    [HS_ETOOBIG] = {"ETOOBIG", "too large", 413},
    [HS_EAUTH] = {"EAUTH", "missing or wrong credentials", 401},
    [HS_ENOMEM] = {"ENOMEM", "out of memory budget", 503},
    [HS_EPRECONDITION] = {"EPRECONDITION", "precondition failed", 412},
    [HS_ERANGE] = {"ERANGE", "range not satisfiable", 416},
    [HS_EUNSUPPORTED] = {"EUNSUPPORTED", "unsupported media type or operation", 415},
    [HS_EBUSY] = {"EBUSY", "overloaded, retry later", 503},
};

static const struct err_row *row_of(enum hs_err e)
{
    if ((unsigned)e >= (unsigned)HS_ERR_COUNT_)
        return NULL;
    return &err_table[e];
}

const char *hs_err_name(enum hs_err e)
{
    const struct err_row *r = row_of(e);
    return r ? r->name : "EUNKNOWN";
}

const char *hs_strerror(enum hs_err e)
{
    const struct err_row *r = row_of(e);
    return r ? r->text : "unknown error";
}

int hs_err_http_status(enum hs_err e)
{
    const struct err_row *r = row_of(e);
    return r ? r->http_status : 500;
}

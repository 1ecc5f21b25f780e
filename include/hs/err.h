/* err.h - the one error enum of hybridstore, its names, texts and HTTP statuses.
 * Values are appended, never renumbered: their names travel in JSON error bodies. */
#ifndef HS_ERR_H
#define HS_ERR_H

enum hs_err {
    HS_OK = 0,
    HS_EINVAL,        /* bad input from a caller or client */
    HS_EIO,           /* local I/O failed */
    HS_ENOSPC,        /* no space (disk reserve reached) */
    HS_ENOENT,        /* no such object, blob or key */
    HS_EEXIST,        /* already exists */
    HS_ECORRUPT,      /* checksum or format mismatch */
    HS_ETIMEDOUT,     /* a peer or client took too long */
    HS_EUNAVAIL,      /* too few nodes/shards, or a peer is unreachable */
    HS_ECONFLICT,     /* an etcd compare failed, a concurrent writer won */
    HS_EPROTO,        /* a peer answered something we cannot parse */
    HS_ETOOBIG,       /* over a configured size limit */
    HS_EAUTH,         /* missing or wrong credentials */
    HS_ENOMEM,        /* allocation refused by a bounded pool (not malloc failure: that aborts) */
    HS_EPRECONDITION, /* a conditional request's precondition failed (If-Match...) */
    HS_ERANGE,        /* a requested byte range cannot be satisfied */
    HS_EUNSUPPORTED,  /* unsupported media type or operation for this object */
    HS_EBUSY,         /* overloaded (a per-daemon limit is reached): retry later */
    HS_ERR_COUNT_     /* keep last */
};

/* Stable upper-case name, "EINVAL". Never NULL; unknown values give "EUNKNOWN". */
const char *hs_err_name(enum hs_err e);
/* Human text, "invalid argument". Never NULL. */
const char *hs_strerror(enum hs_err e);
/* The HTTP status a daemon answers for this error (HS_OK -> 200). */
int hs_err_http_status(enum hs_err e);

#endif

/* registration.h - a daemon's membership key in etcd (nodes/<id>, gateways/<id>): the key is
 * bound to a lease that a keeper thread keeps alive; a background thread (re)registers with
 * exponential back-off (250 ms doubling to 10 s, +-20 % jitter), rewrites the value every
 * refresh interval, and logs once per state change: evt=registered, evt=registration_lost,
 * evt=etcd_unreachable (each with "<label>=<id>" and the key). On stop the lease is revoked,
 * so the key vanishes at once instead of after its TTL. Never blocks start-up: the daemon runs
 * whether etcd is up or not.
 *
 * Thread-safety: start/stop from one owner thread; the value callback runs on the registration
 * thread. */
#ifndef HS_REGISTRATION_H
#define HS_REGISTRATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"

struct hs_etcd;

/* The value to store (heap string, freed by the caller with free()). Called at every
 * (re)registration and refresh, on the registration thread. */
typedef char *hs_registration_value_fn(void *ctx);

struct hs_registration_opts {
    struct hs_etcd *etcd;            /* shared client (must outlive the registration), or NULL: */
    const char *endpoints;           /* then a client of its own is made for these (also logged) */
    const char *key;                 /* full etcd key, e.g. HS_META_PREFIX_NODES "<id>" (copied) */
    int64_t ttl_s;                   /* lease TTL, >= 2 */
    int64_t refresh_ms;              /* value rewrite interval; 0 = 10000 */
    hs_registration_value_fn *value; /* required */
    void *value_ctx;
    const char *label; /* log key naming the owner: "node", "gateway" (copied) */
    const char *id;    /* its value in logs: label=id (copied) */
};

struct hs_registration;

/* Starts the thread. HS_EINVAL on a bad option or a malformed endpoint list (out untouched).
 * *out owned by the caller (hs_registration_stop). */
enum hs_err hs_registration_start(const struct hs_registration_opts *opts,
                                  struct hs_registration **out);
/* True while the key is registered under a live lease (as last seen by the thread). */
bool hs_registration_active(const struct hs_registration *r);
/* Stops the thread, revokes the lease (so the key disappears at once), frees. NULL is fine. */
void hs_registration_stop(struct hs_registration *r);

/* ---- the registration values (nodes/<node id>, gateways/<gateway id>) ----
 * Both are one compact JSON object, encoded and decoded only here (src/meta/
 * registration_format.c; strings escaped by jansson). Decoding is strict about what it knows and
 * ignores members it does not know, so values from newer writers stay readable; members missing
 * from older values read as below. Every decoder refuses (HS_EPROTO): a value that is not a JSON
 * object, a member of the wrong type, a negative integer, a string holding U+0000, and an `id`
 * missing or breaking the node id rule (hs_meta_node_id_valid, manifest.h). A `url` of "" reads
 * as none, and trailing '/' are dropped from it (blob URLs are url + "/v1/blobs/...").
 *
 * nodes/<node id>: written by the node (src/node/register.c), read by gateways, the healer and
 * the CLI.
 *
 * | member           | type   | missing | meaning                                              |
 * |------------------|--------|---------|------------------------------------------------------|
 * | `id`             | string | refused | node id, the same as in the key                      |
 * | `url`            | string | NULL    | base URL of the blob API (required to use the node)  |
 * | `zone`           | string | ""      | failure domain                                       |
 * | `capacity_bytes` | int    | 0       | file system size                                     |
 * | `free_bytes`     | int    | 0       | free space                                           |
 * | `started_ms`     | int    | 0       | wall clock when the node process started             |
 * | `volume`         | string | NULL    | data-dir identity: random, made on the first start   |
 * |                  |        |         | in a data dir (`<data-dir>/.hs-volume-id`); a new or  |
 * |                  |        |         | wiped data dir has a new one                          |
 * | `blobs`          | int    | -1      | blobs stored at the last refresh                     |
 */
struct hs_node_registration {
    char *id;     /* heap, never NULL after decode */
    char *url;    /* heap or NULL */
    char *zone;   /* heap, never NULL after decode */
    char *volume; /* heap or NULL (older nodes) */
    int64_t capacity_bytes;
    int64_t free_bytes;
    int64_t started_ms;
    int64_t blobs; /* -1 = not reported */
};
/* JSON text of r (heap, free()); NULL strings and blobs < 0 are left out. Never fails. */
char *hs_node_registration_encode(const struct hs_node_registration *r);
/* HS_EPROTO when value breaks the rules above. On success out owns its strings
 * (hs_node_registration_release); untouched on failure. Thread-safe. */
enum hs_err hs_node_registration_decode(const void *value, size_t len,
                                        struct hs_node_registration *out);
/* Frees the strings and zeroes r. NULL is fine. */
void hs_node_registration_release(struct hs_node_registration *r);

/* gateways/<gateway id>: written by the gateway (src/gateway/gw.c); the healer only needs the key
 * (a WAL record's owner is alive), the URL helps operators.
 *
 * | member       | type   | missing | meaning                                     |
 * |--------------|--------|---------|---------------------------------------------|
 * | `id`         | string | refused | gateway id, the same as in the key          |
 * | `url`        | string | NULL    | advertised URL ("" when none was given)      |
 * | `started_ms` | int    | 0       | wall clock when the gateway process started |
 */
struct hs_gateway_registration {
    char *id;  /* heap, never NULL after decode */
    char *url; /* heap or NULL */
    int64_t started_ms;
};
/* JSON text of r (heap, free()); a NULL url is written as "". Never fails. */
char *hs_gateway_registration_encode(const struct hs_gateway_registration *r);
/* As hs_node_registration_decode. */
enum hs_err hs_gateway_registration_decode(const void *value, size_t len,
                                           struct hs_gateway_registration *out);
/* Frees the strings and zeroes r. NULL is fine. */
void hs_gateway_registration_release(struct hs_gateway_registration *r);

/* The advertised URLs of registered gateways (heap strings; v heap): zero-initialise, then
 * pass hs_gateway_urls_add_kv as the callback of a range over HS_META_PREFIX_GATEWAYS with the
 * list as its context. Gateways without a URL, and values that do not decode, are skipped. */
struct hs_gateway_urls {
    char **v;
    size_t n, cap;
};
struct hs_etcd_kv;
bool hs_gateway_urls_add_kv(void *urls, const struct hs_etcd_kv *kv);

#endif

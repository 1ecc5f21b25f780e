/* registration_format.c - the values of nodes/<id> and gateways/<id> (tables in registration.h):
 * encoded with jansson (so every string is escaped), decoded strictly (a member of the wrong
 * type, an id that breaks the id rule, a negative size or a string holding U+0000 is refused)
 * while members a reader does not know are ignored, so newer writers stay readable. The
 * lease and refresh machinery is registration.c; this file does no I/O. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/registration.h"
#include "hs/banned.h"

static char *dump(json_t *o, const char *what)
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text)
        HS_BUG("cannot encode a %s registration", what);
    char *out = hs_xstrdup(text); /* ours is free()d like every heap string */
    free(text);
    return out;
}

/* A missing or null member leaves *out alone. A string holding U+0000 never gets here: json_loadb
 * without JSON_ALLOW_NUL refuses the whole text (C readers would see a shorter string). */
static bool reg_str(json_t *o, const char *name, char **out)
{
    json_t *v = json_object_get(o, name);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v))
        return false;
    *out = hs_xstrdup(json_string_value(v));
    return true;
}

/* A missing or null member leaves *out alone; otherwise a JSON integer >= 0. */
static bool reg_int(json_t *o, const char *name, int64_t *out)
{
    json_t *v = json_object_get(o, name);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

/* "" reads as no URL; trailing '/' are dropped (blob URLs are url + "/v1/blobs/..."). */
static void url_normalise(char **url)
{
    if (!*url)
        return;
    size_t n = strlen(*url);
    while (n > 0 && (*url)[n - 1] == '/')
        (*url)[--n] = '\0';
    if (n == 0) {
        free(*url);
        *url = NULL;
    }
}

/* ---- nodes/<id> ---- */

char *hs_node_registration_encode(const struct hs_node_registration *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(r->id ? r->id : ""));
    if (r->url)
        json_object_set_new(o, "url", json_string(r->url));
    json_object_set_new(o, "zone", json_string(r->zone ? r->zone : ""));
    json_object_set_new(o, "capacity_bytes", json_integer(r->capacity_bytes));
    json_object_set_new(o, "free_bytes", json_integer(r->free_bytes));
    json_object_set_new(o, "started_ms", json_integer(r->started_ms));
    if (r->volume)
        json_object_set_new(o, "volume", json_string(r->volume));
    if (r->blobs >= 0)
        json_object_set_new(o, "blobs", json_integer(r->blobs));
    return dump(o, "node");
}

enum hs_err hs_node_registration_decode(const void *value, size_t len,
                                        struct hs_node_registration *out)
{
    json_t *o = json_loadb(value, len, 0, NULL);
    struct hs_node_registration r = {.blobs = -1};
    bool ok = json_is_object(o) && reg_str(o, "id", &r.id) && reg_str(o, "url", &r.url) &&
              reg_str(o, "zone", &r.zone) && reg_str(o, "volume", &r.volume) &&
              reg_int(o, "capacity_bytes", &r.capacity_bytes) &&
              reg_int(o, "free_bytes", &r.free_bytes) && reg_int(o, "started_ms", &r.started_ms) &&
              reg_int(o, "blobs", &r.blobs) && hs_meta_node_id_valid(r.id);
    json_decref(o);
    if (!ok) {
        hs_node_registration_release(&r);
        return HS_EPROTO;
    }
    if (!r.zone)
        r.zone = hs_xstrdup("");
    url_normalise(&r.url);
    *out = r;
    return HS_OK;
}

void hs_node_registration_release(struct hs_node_registration *r)
{
    if (!r)
        return;
    free(r->id);
    free(r->url);
    free(r->zone);
    free(r->volume);
    memset(r, 0, sizeof *r);
}

/* ---- gateways/<id> ---- */

char *hs_gateway_registration_encode(const struct hs_gateway_registration *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(r->id ? r->id : ""));
    json_object_set_new(o, "url", json_string(r->url ? r->url : ""));
    json_object_set_new(o, "started_ms", json_integer(r->started_ms));
    return dump(o, "gateway");
}

enum hs_err hs_gateway_registration_decode(const void *value, size_t len,
                                           struct hs_gateway_registration *out)
{
    json_t *o = json_loadb(value, len, 0, NULL);
    struct hs_gateway_registration r = {0};
    bool ok = json_is_object(o) && reg_str(o, "id", &r.id) && reg_str(o, "url", &r.url) &&
              reg_int(o, "started_ms", &r.started_ms) && hs_meta_node_id_valid(r.id);
    json_decref(o);
    if (!ok) {
        hs_gateway_registration_release(&r);
        return HS_EPROTO;
    }
    url_normalise(&r.url);
    *out = r;
    return HS_OK;
}

void hs_gateway_registration_release(struct hs_gateway_registration *r)
{
    if (!r)
        return;
    free(r->id);
    free(r->url);
    memset(r, 0, sizeof *r);
}

bool hs_gateway_urls_add_kv(void *urls, const struct hs_etcd_kv *kv)
{
    struct hs_gateway_urls *u = urls;
    struct hs_gateway_registration r = {0};
    if (hs_gateway_registration_decode(kv->value, kv->value_len, &r) == HS_OK && r.url && *r.url) {
        if (u->n == u->cap) {
            u->cap = u->cap ? 2 * u->cap : 8;
            u->v = hs_xrealloc(u->v, u->cap * sizeof *u->v);
        }
        u->v[u->n++] = r.url;
        r.url = NULL;
    }
    hs_gateway_registration_release(&r);
    return true;
}

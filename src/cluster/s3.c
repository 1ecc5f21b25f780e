/* s3.c - the launcher's root S3 access key: generated on the first start of a data dir and
 * kept in <dir>/s3-root-key (JSON, mode 0600) so restarts keep it; stored in etcd as an access
 * key record for every bucket, read-write (create-if-absent, so a key record edited by hand
 * survives), printed with the endpoint at start and written to cluster.json ("s3"). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/s3_records.h"
#include "hs/s3_util.h"
#include "hs/banned.h"

#define ETCD_TRIES 20 /* etcd just became healthy: a few retries, 250 ms apart */

static enum hs_err key_make(char **access, char **secret)
{
    char a[HS_S3_ACCESS_KEY_LEN + 1], s[HS_S3_SECRET_LEN + 1];
    enum hs_err err = hs_s3_keys_generate(a, s);
    if (err != HS_OK)
        return err;
    *access = hs_xstrdup(a);
    *secret = hs_xstrdup(s);
    return HS_OK;
}

static enum hs_err key_file_load(const char *path, char **access, char **secret)
{
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    if (!o)
        return HS_ENOENT;
    const char *a = json_string_value(json_object_get(o, "access_key"));
    const char *s = json_string_value(json_object_get(o, "secret_key"));
    enum hs_err err = HS_EINVAL;
    if (hs_meta_s3_key_id_valid(a) && hs_meta_s3_secret_valid(s)) {
        *access = hs_xstrdup(a);
        *secret = hs_xstrdup(s);
        err = HS_OK;
    }
    json_decref(o);
    if (err != HS_OK)
        HS_LOG_ERROR("s3_root_key_invalid", "path='%s'", path);
    return err;
}

static enum hs_err key_store(const struct hs_cluster *c)
{
    struct hs_etcd_opts eo = {.endpoints = c->etcd_endpoints, .timeout_ms = 2000};
    struct hs_etcd *e = NULL;
    enum hs_err err = hs_etcd_new(&eo, &e);
    if (err != HS_OK)
        return err;
    struct hs_s3_key_record k = {.id = c->s3_access_key,
                                 .secret = c->s3_secret_key,
                                 .all_buckets = true,
                                 .mode = HS_S3_KEY_RW,
                                 .created_ms = hs_clock_wall_ms(),
                                 .comment = "root key of hybridstore cluster"};
    for (int i = 0; i < ETCD_TRIES; i++) {
        err = hs_s3_key_create(e, &k);
        if (err == HS_OK || err == HS_EEXIST)
            break;
        hs_clock_sleep_ms(250, NULL);
    }
    hs_etcd_free(e);
    return err == HS_EEXIST ? HS_OK : err;
}

enum hs_err hs_cluster_s3_root_key(struct hs_cluster *c)
{
    char *path = hs_xasprintf("%s/s3-root-key", c->dir);
    enum hs_err err = key_file_load(path, &c->s3_access_key, &c->s3_secret_key);
    if (err == HS_ENOENT) {
        err = key_make(&c->s3_access_key, &c->s3_secret_key);
        if (err == HS_OK) {
            json_t *o = json_pack("{s:s, s:s}", "access_key", c->s3_access_key, "secret_key",
                                  c->s3_secret_key);
            char *text = json_dumps(o, JSON_INDENT(2));
            json_decref(o);
            err = hs_cluster_write_file(path, text, 0600);
            free(text);
            if (err == HS_OK)
                HS_LOG_INFO("s3_root_key_created", "path='%s' access_key=%s", path,
                            c->s3_access_key);
        }
    }
    if (err == HS_OK)
        err = key_store(c);
    if (err != HS_OK)
        HS_LOG_ERROR("s3_root_key_failed", "path='%s' err=%s", path, hs_strerror(err));
    free(path);
    return err;
}

void hs_cluster_s3_print(const struct hs_cluster *c)
{
    if (!c->s3_access_key)
        return;
    printf("S3: endpoint %s region us-east-1 access_key %s secret_key %s\n"
           "    aws --endpoint-url %s s3 ls   (with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
           "above)\n",
           c->s3_url, c->s3_access_key, c->s3_secret_key, c->s3_url);
}

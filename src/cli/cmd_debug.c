/* cmd_debug.c - `hybridstore debug shard|place|manifest|txn`: look at the data itself: a blob
 * file's header and CRC, the rendezvous order of nodes for a key, an object's manifest and repair
 * mark in etcd, and the pending write-ahead records. Read-only: nothing here writes to disk or
 * etcd, and nothing goes through a gateway (so it works when they are down). Exit codes: 0 ok, 1
 * corrupt data or etcd error, 2 usage or unreadable file, 3 no such manifest.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/client.h"
#include "commands.h"
#include "hs/blob.h"
#include "hs/clock.h"
#include "hs/config.h"
#include "hs/csv.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/place.h"
#include "hs/registration.h"
#include "hs/banned.h"

enum {
    DEBUG_EXIT_OK = 0,
    DEBUG_EXIT_BAD = 1,    /* corrupt data, or etcd could not be read */
    DEBUG_EXIT_USAGE = 2,  /* bad arguments, unreadable file */
    DEBUG_EXIT_ABSENT = 3, /* no manifest for the key */
};

/* `make run` starts `hybridstore cluster` at port 8000, whose first etcd member listens for
 * clients at PORT+100 (docs/cluster.md, "Port map"). */
#define DEBUG_DEFAULT_ETCD "http://127.0.0.1:8100"
#define DEBUG_ETCD_HELP                                                                            \
    "etcd endpoints, comma-separated; the default is the etcd of `make run`'s cluster (cluster "   \
    "port 8000 + 100, docs/cluster.md)"
#define DEBUG_EXIT_HELP                                                                            \
    "exit codes: 0 ok, 1 corrupt data or etcd error, 2 usage or unreadable file, 3 no manifest"

/* One struct for every sub-subcommand; each table below names only the fields it uses. */
struct debug_config {
    char *etcd;  /* endpoints */
    char *nodes; /* place: "id1,id2,..." instead of etcd */
    int64_t n;   /* place: nodes to list, 0 = all */
    bool raw;    /* manifest: the JSON as stored */
    bool blobs;  /* txn: list every blob of each record */
};

#define FIELD(f) .offset = offsetof(struct debug_config, f)
#define ETCD_OPT                                                                                   \
    {                                                                                              \
        .name = "etcd", .type = HS_OPT_STRING, FIELD(etcd), .def = DEBUG_DEFAULT_ETCD,             \
        .help = DEBUG_ETCD_HELP                                                                    \
    }

static const struct hs_opt place_opts[] = {
    {.name = "nodes",
     .type = HS_OPT_STRING,
     FIELD(nodes),
     .help = "node ids, comma-separated: place over these instead of the live nodes in etcd"},
    ETCD_OPT,
    {.name = "n",
     .type = HS_OPT_INT,
     FIELD(n),
     .def = "0",
     .min = 0,
     .max = HS_PLACE_NODES_MAX,
     .help = "list only the N best nodes (0 = every node)"},
};
static const struct hs_opt manifest_opts[] = {
    ETCD_OPT,
    {.name = "raw",
     .type = HS_OPT_BOOL,
     FIELD(raw),
     .help = "print the manifest JSON as stored (stdout); etcd details go to stderr"},
};
static const struct hs_opt txn_opts[] = {
    ETCD_OPT,
    {.name = "blobs", .type = HS_OPT_BOOL, FIELD(blobs), .help = "also list each record's blobs"},
};

static const struct hs_config_spec shard_spec = {
    .command = "debug shard",
    .summary =
        "Decodes the header of a blob file (any path: objects/, quarantine/ or a copy), "
        "prints every field and checks both CRC32Cs (header and payload). " DEBUG_EXIT_HELP ".",
    /* a prefix of its own: it has no --etcd, so an exported HS_DEBUG_ETCD must not warn here */
    .env_prefix = "HS_DEBUG_SHARD_",
    .usage_args = "FILE",
};
static const struct hs_config_spec place_spec = {
    .command = "debug place",
    .summary =
        "Lists the nodes for KEY in rendezvous order (placement v1, include/hs/place.h), "
        "best first: rank i holds replica or shard i when the gateway writes KEY. Nodes "
        "come from --nodes, else from the live registrations in etcd (nodes/). " DEBUG_EXIT_HELP
        ".",
    .env_prefix = "HS_DEBUG_",
    .opts = place_opts,
    .n_opts = HS_ARRAY_LEN(place_opts),
    .usage_args = "KEY",
};
static const struct hs_config_spec manifest_spec = {
    .command = "debug manifest",
    .summary = "Prints the manifest of KEY as etcd stores it (meta/KEY): strategy, size, "
               "version, etag, creation time and every part, segment and blob with its node and "
               "CRC, plus the mod_revision and whether repair/KEY is marked. " DEBUG_EXIT_HELP ".",
    .env_prefix = "HS_DEBUG_",
    .opts = manifest_opts,
    .n_opts = HS_ARRAY_LEN(manifest_opts),
    .usage_args = "KEY",
};
static const struct hs_config_spec txn_spec = {
    .command = "debug txn",
    .summary = "Lists the pending write-ahead records (txn/): writes in progress, or abandoned "
               "ones the healer has not rolled back yet, with their key, owner gateway, age and "
               "blob count. " DEBUG_EXIT_HELP ".",
    .env_prefix = "HS_DEBUG_",
    .opts = txn_opts,
    .n_opts = HS_ARRAY_LEN(txn_opts),
};

static void debug_usage(FILE *out)
{
    fprintf(out,
            "usage: hybridstore debug <what> [options]   (hybridstore debug <what> --help)\n\n"
            "Looks at the data itself; reads only, never writes.\n\n"
            "  shard FILE              decode a blob file's header, check its CRCs\n"
            "  place KEY               the nodes for KEY in placement order (--nodes or --etcd)\n"
            "  manifest KEY            the manifest of KEY in etcd (--raw: the JSON)\n"
            "  txn                     pending write-ahead records (txn/)\n\n"
            "--etcd defaults to " DEBUG_DEFAULT_ETCD ", the etcd of `make run`'s cluster (its "
            "port 8000 + 100).\n" DEBUG_EXIT_HELP "\n");
}

/* hs_strerror's texts speak of the object store ("not enough nodes or shards"); here the only
 * thing that can be unavailable is etcd itself. */
static const char *etcd_err_text(enum hs_err err)
{
    if (err == HS_EUNAVAIL || err == HS_ETIMEDOUT)
        return "etcd unreachable or without quorum";
    return hs_strerror(err);
}

static const char *utc(int64_t ms, char *buf, size_t cap)
{
    hs_clock_format_utc(ms, buf, cap);
    return buf;
}

/* ---- shard ---- */

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* The header did not decode: show what its bytes say anyway, field by field as blob.h lays
 * them out, so a person can see which field is off (a flipped version, a wild length). */
static void print_raw_header(const char *path)
{
    uint8_t b[HS_BLOB_HEADER_MAX_BYTES];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(b, 1, sizeof b, f) : 0;
    if (f)
        fclose(f);
    if (n < 40) {
        printf("raw header:    only %zu bytes, a v1 header needs %d or more\n", n,
               HS_BLOB_HEADER_FIXED_BYTES + 1);
        return;
    }
    char created[40];
    size_t id_len = le16(b + 28);
    printf("raw fields (unverified):\n");
    printf("  magic:         %s\n",
           memcmp(b, HS_BLOB_MAGIC, HS_BLOB_MAGIC_BYTES) == 0 ? "ok" : "WRONG");
    printf("  version:       %u\n", le16(b + 8));
    printf("  header_bytes:  %u\n", le16(b + 10));
    printf("  flags:         0x%08" PRIx32 "\n", le32(b + 12));
    printf("  payload_bytes: %" PRId64 "\n", (int64_t)le64(b + 16));
    printf("  payload_crc:   %08" PRIx32 "\n", le32(b + 24));
    printf("  id_len:        %zu\n", id_len);
    printf("  created:       %s (%" PRId64 " ms)\n", utc((int64_t)le64(b + 32), created, 40),
           (int64_t)le64(b + 32));
    if (id_len >= 1 && id_len <= HS_BLOB_ID_MAX && 40 + id_len + 4 <= n) {
        printf("  id:            %.*s\n", (int)id_len, (const char *)b + 40);
        printf("  header_crc:    %08" PRIx32 "\n", le32(b + 40 + id_len));
    }
}

static int debug_shard(int argc, char **argv)
{
    struct debug_config cfg = {0}; /* no options: the table is empty, nothing to release */
    const char *pos[1];
    size_t n_pos = 0;
    enum hs_config_outcome oc = hs_config_load(&shard_spec, &cfg, argc, argv, pos, 1, &n_pos);
    if (oc != HS_CONFIG_RUN)
        return oc == HS_CONFIG_EXIT_OK ? DEBUG_EXIT_OK : DEBUG_EXIT_USAGE;
    if (n_pos != 1) {
        hs_cli_say("debug", "shard", "expected one FILE (hybridstore debug shard --help)");
        return DEBUG_EXIT_USAGE;
    }
    struct hs_blob_inspection in;
    enum hs_err err = hs_blob_inspect_file(pos[0], &in);
    if (err != HS_OK) {
        hs_cli_say("debug", "shard", "cannot read '%s': %s (%s)", pos[0], hs_strerror(err),
                   hs_err_name(err));
        return DEBUG_EXIT_USAGE;
    }
    const struct hs_blob_header *h = &in.header;
    char created[40];
    printf("file:          %s\n", pos[0]);
    printf("file_bytes:    %" PRId64 "\n", in.file_bytes);
    if (in.header_ok) {
        printf("magic:         ok\n");
        printf("version:       %u\n", h->version);
        printf("header_bytes:  %u\n", h->header_bytes);
        printf("flags:         0x%08" PRIx32 "\n", h->flags);
        printf("payload_bytes: %" PRId64 "\n", h->payload_bytes);
        printf("payload_crc:   %08" PRIx32 " (stored)\n", h->payload_crc);
        printf("id:            %s\n", h->id);
        printf("created:       %s (%" PRId64 " ms)\n", utc(h->created_ms, created, sizeof created),
               h->created_ms);
        printf("header_crc:    ok\n");
    } else {
        printf("header:        CORRUPT (%s)\n", in.problem ? in.problem : "does not decode");
        print_raw_header(pos[0]);
    }
    if (in.payload_checked && in.payload_crc_actual == h->payload_crc)
        printf("crc:           ok\n");
    else if (in.payload_checked)
        printf("crc:           MISMATCH (stored %08" PRIx32 ", computed %08" PRIx32 ")\n",
               h->payload_crc, in.payload_crc_actual);
    else
        printf("crc:           not checked (%s)\n", in.problem ? in.problem : "header");
    if (in.verdict == HS_OK) {
        printf("verdict:       ok\n");
        return DEBUG_EXIT_OK;
    }
    printf("verdict:       CORRUPT (%s)\n", in.problem ? in.problem : "unknown");
    return DEBUG_EXIT_BAD;
}

/* ---- live nodes (nodes/ in etcd) ---- */

struct node_list {
    char **ids;  /* heap strings */
    char **urls; /* heap strings, NULL when unknown */
    size_t n, cap;
};

static void node_list_add(struct node_list *l, const char *id, size_t id_len, const char *url)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->ids = hs_xrealloc(l->ids, l->cap * sizeof *l->ids);
        l->urls = hs_xrealloc(l->urls, l->cap * sizeof *l->urls);
    }
    l->ids[l->n] = hs_xstrndup(id, id_len);
    l->urls[l->n] = url ? hs_xstrdup(url) : NULL;
    l->n++;
}

static void node_list_release(struct node_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->ids[i]);
        free(l->urls[i]);
    }
    free(l->ids);
    free(l->urls);
    memset(l, 0, sizeof *l);
}

static const char *node_list_url(const struct node_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->ids[i], id) == 0)
            return l->urls[i] ? l->urls[i] : "-";
    return NULL;
}

/* The registration value is registration.h's; the id is taken from the key, which is what
 * gateways place by, so a value we cannot decode still counts as a node (with no URL). */
static bool collect_node(void *ctx, const struct hs_etcd_kv *kv)
{
    const char *id = hs_meta_key_strip(kv->key, HS_META_PREFIX_NODES);
    if (!id)
        return true;
    struct hs_node_registration r = {0};
    (void)hs_node_registration_decode(kv->value, kv->value_len, &r);
    node_list_add(ctx, id, strlen(id), r.url);
    hs_node_registration_release(&r);
    return true;
}

static enum hs_err load_nodes(const char *cmd, struct hs_etcd *e, const char *endpoints,
                              struct node_list *out)
{
    struct node_list l = {0};
    enum hs_err err =
        hs_etcd_range_prefix_each(e, HS_META_PREFIX_NODES, 0, false, collect_node, &l, NULL);
    if (err != HS_OK) {
        hs_cli_say("debug", cmd, "cannot list %s from etcd %s: %s (%s)", HS_META_PREFIX_NODES,
                   endpoints, etcd_err_text(err), hs_err_name(err));
        node_list_release(&l);
        return err;
    }
    *out = l;
    return HS_OK;
}

/* "a,b,,c" -> a, b, c (blank entries skipped, spaces around ids trimmed). */
static void parse_node_ids(const char *text, struct node_list *out)
{
    const char *p = text, *id;
    size_t len;
    while (hs_csv_next(&p, &id, &len))
        node_list_add(out, id, len, NULL);
}

/* ---- place ---- */

static int print_placement(const char *key, const struct node_list *l, size_t want)
{
    size_t *order = hs_xcalloc(l->n ? l->n : 1, sizeof *order);
    size_t shown = want ? want : l->n;
    enum hs_err err =
        want ? hs_place_nodes(key, strlen(key), (const char *const *)l->ids, l->n, want, order)
             : hs_place_rank(key, strlen(key), (const char *const *)l->ids, l->n, order);
    int rc = DEBUG_EXIT_OK;
    if (err == HS_EUNAVAIL) {
        hs_cli_say("debug", "place", "--n %zu but only %zu node(s)", want, l->n);
        rc = DEBUG_EXIT_BAD;
    } else if (err != HS_OK) {
        hs_cli_say("debug", "place", "cannot place over these nodes (an id repeats?): %s",
                   hs_strerror(err));
        rc = DEBUG_EXIT_USAGE;
    } else {
        printf("key: %s   placement v%d, %zu node(s)\n", key, HS_PLACE_VERSION, l->n);
        printf("%-5s %-24s %-28s %s\n", "RANK", "NODE", "URL", "SCORE");
        for (size_t i = 0; i < shown; i++) {
            const char *id = l->ids[order[i]], *url = l->urls[order[i]];
            printf("%-5zu %-24s %-28s %016" PRIx64 "\n", i, id, url ? url : "-",
                   hs_place_score(key, strlen(key), id));
        }
    }
    free(order);
    return rc;
}

static int debug_place(int argc, char **argv)
{
    struct debug_config cfg = {0};
    const char *pos[1];
    size_t n_pos = 0;
    enum hs_config_outcome oc = hs_config_load(&place_spec, &cfg, argc, argv, pos, 1, &n_pos);
    struct node_list nodes = {0};
    struct hs_etcd *e = NULL;
    int rc = DEBUG_EXIT_USAGE;
    if (oc != HS_CONFIG_RUN) {
        rc = oc == HS_CONFIG_EXIT_OK ? DEBUG_EXIT_OK : DEBUG_EXIT_USAGE;
        goto out;
    }
    if (n_pos != 1 || !hs_meta_object_key_valid(pos[0], strlen(pos[0]))) {
        hs_cli_say("debug", "place",
                   n_pos != 1 ? "expected one KEY (hybridstore debug place --help)"
                              : "not a valid object key");
        goto out;
    }
    if (cfg.nodes) {
        parse_node_ids(cfg.nodes, &nodes);
        if (nodes.n == 0) {
            hs_cli_say("debug", "place", "--nodes lists no node id");
            goto out;
        }
    } else {
        if (!(e = hs_cli_open_etcd("debug", "place", cfg.etcd)))
            goto out;
        rc = DEBUG_EXIT_BAD;
        if (load_nodes("place", e, cfg.etcd, &nodes) != HS_OK)
            goto out;
        if (nodes.n == 0) {
            hs_cli_say("debug", "place", "no live node registered under %s in etcd %s",
                       HS_META_PREFIX_NODES, cfg.etcd);
            goto out;
        }
    }
    rc = print_placement(pos[0], &nodes, (size_t)cfg.n);
out:
    node_list_release(&nodes);
    hs_etcd_free(e);
    hs_config_release(&place_spec, &cfg);
    return rc;
}

/* ---- manifest ---- */

static void print_part(const char *name, const struct hs_part *p, const struct node_list *live)
{
    if (p->kind == HS_PART_REPLICATED)
        printf("part %s: replicated, replicas %" PRIu32 ", %" PRId64 " bytes, %zu segment(s)\n",
               name, p->replicas, p->len_bytes, p->n_segments);
    else
        printf("part %s: ec RS(%" PRIu32 ",%" PRIu32 "), stripe %" PRId64 " bytes, %" PRId64
               " bytes, %zu segment(s)\n",
               name, p->k, p->m, p->stripe_bytes, p->len_bytes, p->n_segments);
    for (size_t s = 0; s < p->n_segments; s++) {
        const struct hs_segment *seg = &p->segments[s];
        printf("  segment %zu: offset %" PRId64 ", %" PRId64 " bytes, crc %08" PRIx32 "\n", s,
               seg->offset_bytes, seg->len_bytes, seg->crc32c);
        for (size_t b = 0; b < seg->n_blobs; b++) {
            const struct hs_meta_blob_ref *r = &seg->blobs[b];
            const char *what = p->kind == HS_PART_EC ? (b < p->k ? "data" : "parity") : "replica";
            const char *url = live ? node_list_url(live, r->node_id) : NULL;
            printf("    %-7s %-2zu %s  node %s  %" PRId64 " bytes  crc %08" PRIx32 "%s%s\n", what,
                   b, r->blob_id, r->node_id, r->len_bytes, r->crc32c,
                   live ? (url ? "  live " : "  NOT REGISTERED") : "", url ? url : "");
        }
    }
}

static void print_manifest(const struct hs_manifest *m, const struct node_list *live)
{
    char created[40];
    printf("strategy:     %s\n", hs_strategy_name(m->strategy));
    printf("size:         %" PRId64 " bytes\n", m->size_bytes);
    printf("content_type: %s\n", m->content_type);
    printf("etag:         \"%s\"\n", m->etag);
    printf("version:      %" PRId64 "\n", m->version);
    printf("created:      %s (%" PRId64 " ms)\n", utc(m->created_ms, created, sizeof created),
           m->created_ms);
    printf("txn:          %s\n", m->txn_id);
    if (m->strategy == HS_STRATEGY_FIELD_HYBRID) {
        printf("cold_hash:    %s\n", m->cold_hash ? m->cold_hash : "-");
        printf("order:        v%" PRId32 " %s\n", m->field_order_version,
               m->field_order_json ? m->field_order_json : "-");
    }
    if (m->data.kind != HS_PART_NONE)
        print_part("data", &m->data, live);
    if (m->hot.kind != HS_PART_NONE)
        print_part("hot", &m->hot, live);
    if (m->has_cold)
        print_part("cold", &m->cold, live);
    else if (m->strategy == HS_STRATEGY_FIELD_HYBRID)
        printf("part cold: none (no cold fields)\n");
}

/* repair/<key>: the gateway's mark that some blob of the object is missing or corrupt. */
static int print_repair_mark(struct hs_etcd *e, const char *key, const char *endpoints, FILE *out)
{
    char *rkey = NULL;
    struct hs_etcd_kvs kvs = {0};
    enum hs_err err = hs_meta_key_repair(key, &rkey);
    if (err == HS_OK)
        err = hs_etcd_get(e, rkey, &kvs);
    if (err != HS_OK) {
        hs_cli_say("debug", "manifest", "cannot read repair/%s from etcd %s: %s (%s)", key,
                   endpoints, etcd_err_text(err), hs_err_name(err));
        free(rkey);
        return DEBUG_EXIT_BAD;
    }
    if (kvs.n == 0)
        fprintf(out, "repair:       not marked\n");
    else
        fprintf(out, "repair:       MARKED %.*s (mod_revision %" PRId64 ")\n",
                (int)kvs.kvs[0].value_len, (const char *)kvs.kvs[0].value, kvs.kvs[0].mod_revision);
    hs_etcd_kvs_release(&kvs);
    free(rkey);
    return DEBUG_EXIT_OK;
}

static int show_manifest(struct hs_etcd *e, const char *key, const struct debug_config *cfg)
{
    char *mkey = NULL, why[256] = "";
    struct hs_etcd_kvs kvs = {0};
    struct node_list live = {0};
    struct hs_manifest m;
    hs_manifest_init(&m);
    int rc = DEBUG_EXIT_BAD;
    enum hs_err err = hs_meta_key_meta(key, &mkey);
    if (err == HS_OK)
        err = hs_etcd_get(e, mkey, &kvs);
    if (err != HS_OK) {
        hs_cli_say("debug", "manifest", "cannot read meta/%s from etcd %s: %s (%s)", key, cfg->etcd,
                   etcd_err_text(err), hs_err_name(err));
        goto out;
    }
    if (kvs.n == 0) {
        hs_cli_say("debug", "manifest", "no manifest for '%s' (%s is absent)", key, mkey);
        rc = DEBUG_EXIT_ABSENT;
        goto out;
    }
    const struct hs_etcd_kv *kv = &kvs.kvs[0];
    FILE *info = cfg->raw ? stderr : stdout; /* --raw keeps stdout pure JSON, for jq */
    fprintf(info, "key:          %s\netcd key:     %s\n", key, mkey);
    fprintf(info,
            "mod_revision: %" PRId64 " (create_revision %" PRId64 ", etcd version %" PRId64 ")\n",
            kv->mod_revision, kv->create_revision, kv->version);
    if (print_repair_mark(e, key, cfg->etcd, info) != DEBUG_EXIT_OK)
        goto out;
    err = hs_manifest_decode(kv->value, kv->value_len, &m, why, sizeof why);
    if (cfg->raw) {
        printf("%.*s\n", (int)kv->value_len, (const char *)kv->value);
        if (err != HS_OK)
            hs_cli_say("debug", "manifest", "the manifest does not decode: %s (%s)", why,
                       hs_err_name(err));
        rc = err == HS_OK ? DEBUG_EXIT_OK : DEBUG_EXIT_BAD;
        goto out;
    }
    if (err != HS_OK) {
        printf("manifest:     CORRUPT (%s: %s)\nraw:          %.*s\n", hs_err_name(err), why,
               (int)kv->value_len, (const char *)kv->value);
        goto out;
    }
    /* Which nodes are registered tells at a glance which blobs a reader cannot reach. */
    bool have_live = load_nodes("manifest", e, cfg->etcd, &live) == HS_OK;
    print_manifest(&m, have_live ? &live : NULL);
    rc = DEBUG_EXIT_OK;
out:
    hs_manifest_release(&m);
    node_list_release(&live);
    hs_etcd_kvs_release(&kvs);
    free(mkey);
    return rc;
}

static int debug_manifest(int argc, char **argv)
{
    struct debug_config cfg = {0};
    const char *pos[1];
    size_t n_pos = 0;
    enum hs_config_outcome oc = hs_config_load(&manifest_spec, &cfg, argc, argv, pos, 1, &n_pos);
    struct hs_etcd *e = NULL;
    int rc = DEBUG_EXIT_USAGE;
    if (oc != HS_CONFIG_RUN) {
        rc = oc == HS_CONFIG_EXIT_OK ? DEBUG_EXIT_OK : DEBUG_EXIT_USAGE;
        goto out;
    }
    if (n_pos != 1 || !hs_meta_object_key_valid(pos[0], strlen(pos[0]))) {
        hs_cli_say("debug", "manifest",
                   n_pos != 1 ? "expected one KEY (hybridstore debug manifest --help)"
                              : "not a valid object key");
        goto out;
    }
    if ((e = hs_cli_open_etcd("debug", "manifest", cfg.etcd)))
        rc = show_manifest(e, pos[0], &cfg);
out:
    hs_etcd_free(e);
    hs_config_release(&manifest_spec, &cfg);
    return rc;
}

/* ---- txn ---- */

struct txn_walk {
    bool blobs;
    int64_t now_ms;
    size_t n, bad;
};

/* "850ms", "12.3s", "4.5m", "2.0h", "3.1d": an age a person reads at a glance. */
static const char *age_text(int64_t ms, char *buf, size_t cap)
{
    if (ms < 1000)
        snprintf(buf, cap, "%" PRId64 "ms", ms);
    else if (ms < 120000)
        snprintf(buf, cap, "%.1fs", (double)ms / 1e3);
    else if (ms < 7200000)
        snprintf(buf, cap, "%.1fm", (double)ms / 6e4);
    else if (ms < 172800000)
        snprintf(buf, cap, "%.1fh", (double)ms / 3.6e6);
    else
        snprintf(buf, cap, "%.1fd", (double)ms / 8.64e7);
    return buf;
}

static bool print_txn(void *ctx, const struct hs_etcd_kv *kv)
{
    struct txn_walk *w = ctx;
    const char *id = hs_meta_key_strip(kv->key, HS_META_PREFIX_TXN);
    struct hs_txn_record r;
    char why[256] = "", age[32];
    hs_txn_record_init(&r);
    if (w->n++ == 0) /* after the first page arrived: no table head above an etcd error */
        printf("%-32s %-24s %-16s %8s %5s %-11s %8s\n", "TXN", "KEY", "OWNER", "AGE", "BLOBS",
               "STATE", "QUIET");
    enum hs_err err = hs_txn_record_decode(kv->value, kv->value_len, &r, why, sizeof why);
    if (err != HS_OK) {
        w->bad++;
        printf("%-32s UNDECODABLE (%s: %s): %.*s\n", id ? id : kv->key, hs_err_name(err), why,
               (int)kv->value_len, (const char *)kv->value);
        return true;
    }
    int64_t age_ms = w->now_ms - r.start_ms, quiet_ms = w->now_ms - HS_MAX(r.start_ms, r.alive_ms);
    char quiet[32];
    printf("%-32s %-24s %-16s %8s %5zu %-11s %8s\n", r.txn_id, r.key, r.owner_id,
           age_ms < 0 ? "future" : age_text(age_ms, age, sizeof age), r.n_blobs,
           hs_txn_state_name(r.state),
           quiet_ms < 0 ? "future" : age_text(quiet_ms, quiet, sizeof quiet));
    for (size_t i = 0; w->blobs && i < r.n_blobs; i++)
        printf("    blob %s  node %s\n", r.blobs[i].blob_id, r.blobs[i].node_id);
    hs_txn_record_release(&r);
    return true;
}

static int debug_txn(int argc, char **argv)
{
    struct debug_config cfg = {0};
    enum hs_config_outcome oc = hs_config_load(&txn_spec, &cfg, argc, argv, NULL, 0, NULL);
    struct hs_etcd *e = NULL;
    int rc = DEBUG_EXIT_USAGE;
    if (oc != HS_CONFIG_RUN) {
        rc = oc == HS_CONFIG_EXIT_OK ? DEBUG_EXIT_OK : DEBUG_EXIT_USAGE;
        goto out;
    }
    if (!(e = hs_cli_open_etcd("debug", "txn", cfg.etcd)))
        goto out;
    struct txn_walk w = {.blobs = cfg.blobs, .now_ms = hs_clock_wall_ms()};
    int64_t rev = 0;
    enum hs_err err =
        hs_etcd_range_prefix_each(e, HS_META_PREFIX_TXN, 0, false, print_txn, &w, &rev);
    if (err != HS_OK) {
        hs_cli_say("debug", "txn", "cannot list %s from etcd %s: %s (%s)", HS_META_PREFIX_TXN,
                   cfg.etcd, etcd_err_text(err), hs_err_name(err));
        rc = DEBUG_EXIT_BAD;
        goto out;
    }
    printf("%zu pending record(s) at etcd revision %" PRId64 "%s\n", w.n, rev,
           w.bad ? ", some UNDECODABLE" : "");
    rc = w.bad ? DEBUG_EXIT_BAD : DEBUG_EXIT_OK;
out:
    hs_etcd_free(e);
    hs_config_release(&txn_spec, &cfg);
    return rc;
}

int hs_cmd_debug(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
    } subs[] = {
        {"shard", debug_shard},
        {"place", debug_place},
        {"manifest", debug_manifest},
        {"txn", debug_txn},
    };
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        debug_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? DEBUG_EXIT_USAGE : DEBUG_EXIT_OK;
    }
    /* Errors go to stderr as plain sentences; only etcd trouble adds a key=value line. */
    hs_log_init("cli", HS_LOG_WARN);
    for (size_t i = 0; i < HS_ARRAY_LEN(subs); i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return subs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hybridstore debug: unknown '%s'\n\n", argv[1]);
    debug_usage(stderr);
    return DEBUG_EXIT_USAGE;
}

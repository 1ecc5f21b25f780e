/* main.c - the one hybridstore binary: dispatches to a subcommand (daemon, launcher, client or
 * tool), each of which parses its own options. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "hs/version.h"
#include "hs/banned.h"

typedef int hs_cmd_fn(int argc, char **argv);

struct command {
    const char *name;
    const char *sub; /* second word ("bench codec"), or NULL */
    hs_cmd_fn *fn;
    const char *help;
};

static const struct command commands[] = {
    {"node", NULL, hs_cmd_node, "run a storage node (blob store behind an HTTP API)"},
    {"gateway", NULL, hs_cmd_gateway, "run an API gateway (reference API and /v1/ object API)"},
    {"healer", NULL, hs_cmd_healer, "run a healer (WAL recovery, repair, scrub, GC; one leads)"},
    {"cluster", NULL, hs_cmd_cluster,
     "start a whole local cluster on loopback (development, tests)"},
    {"bench", "codec", hs_cmd_bench_codec, "measure RS encode/decode against memcpy"},
    {"bench", "node", hs_cmd_bench_node, "measure blob PUT/GET against a running node"},
    {"bench", "s3", hs_cmd_bench_s3, "S3 PUT/GET against the native API: ops/s, p50/p99, ratio"},
    {"bench", "layout", hs_cmd_bench_layout,
     "adaptive hot fields workload against a `hybridstore cluster` dir"},
    {"bench", NULL, hs_cmd_bench, "load-test a gateway: ops/s, MB/s, latency percentiles"},
    {"put", NULL, hs_cmd_put, "store a file or stdin as an object"},
    {"get", NULL, hs_cmd_get, "write an object to stdout or a file (-o)"},
    {"rm", NULL, hs_cmd_rm, "delete an object"},
    {"ls", NULL, hs_cmd_ls, "list objects (optionally under a prefix)"},
    {"stat", NULL, hs_cmd_stat, "show an object's manifest: strategy, version, blobs, nodes"},
    {"status", NULL, hs_cmd_status, "show nodes, usage, WAL and repair backlogs"},
    {"config", NULL, hs_cmd_config, "change a cluster setting: config set hot-fields a,b,c"},
    {"key", NULL, hs_cmd_key, "S3 access keys: key create [--buckets a,b] [--read-only] | ls | rm"},
    {"bucket", NULL, hs_cmd_bucket, "S3 buckets: bucket create NAME [--strategy S] | ls | rm"},
    {"debug", NULL, hs_cmd_debug, "inspect data: debug shard FILE, debug place KEY ..."},
    {"layout", NULL, hs_cmd_layout, "adaptive hot fields: layout show [COLL], layout pin COLL"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: hybridstore <command> [options]   (hybridstore <command> --help)\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s%s%s", commands[i].name, commands[i].sub ? " " : "",
                 commands[i].sub ? commands[i].sub : "");
        fprintf(out, "  %-14s %s\n", name, commands[i].help);
    }
    fprintf(out, "\n  --version      print the version and git commit\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("hybridstore %s (git %s)\n", hs_version(), hs_version_git());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const struct command *c = &commands[i];
        if (strcmp(argv[1], c->name) != 0)
            continue;
        if (c->sub && (argc < 3 || strcmp(argv[2], c->sub) != 0))
            continue;
        int skip = c->sub ? 2 : 1;
        return c->fn(argc - skip, argv + skip);
    }
    fprintf(stderr, "hybridstore: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

/* main.c - the one hybridstore binary: dispatches to a subcommand (daemon, launcher or client).
 * Subcommands that are not part of this build (weak symbols left unresolved) say so. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "hs/version.h"
#include "hs/banned.h"

typedef int hs_cmd_fn(int argc, char **argv);

/* Weak so that the binary links while modules land one by one; see the table below. */
#pragma weak hs_cmd_node
#pragma weak hs_cmd_bench_codec
#pragma weak hs_cmd_bench_node
#pragma weak hs_cmd_cluster
#pragma weak hs_cmd_debug

struct command {
    const char *name;
    const char *sub; /* second word ("bench codec"), or NULL */
    hs_cmd_fn *fn;
    const char *help;
};

static const struct command commands[] = {
    {"node", NULL, hs_cmd_node, "run a storage node (blob store behind an HTTP API)"},
    {"cluster", NULL, hs_cmd_cluster, "start a whole local cluster on loopback (development, tests)"},
    {"bench", "codec", hs_cmd_bench_codec, "measure RS encode/decode against memcpy"},
    {"bench", "node", hs_cmd_bench_node, "measure blob PUT/GET against a running node"},
    {"debug", NULL, hs_cmd_debug, "inspect data: debug shard FILE, debug place KEY ..."},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: hybridstore <command> [options]   (hybridstore <command> --help)\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!commands[i].fn)
            continue;
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
        if (!c->fn) {
            fprintf(stderr, "hybridstore: '%s' is not part of this build\n", c->name);
            return 2;
        }
        int skip = c->sub ? 2 : 1;
        return c->fn(argc - skip, argv + skip);
    }
    fprintf(stderr, "hybridstore: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

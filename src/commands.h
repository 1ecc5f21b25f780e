/* commands.h - entry points of the subcommands of the one hybridstore binary. Each takes the
 * subcommand's own argv (argv[0] is the subcommand name) and returns the process exit code. */
#ifndef HS_COMMANDS_H
#define HS_COMMANDS_H

int hs_cmd_node(int argc, char **argv);        /* src/node/main.c */
int hs_cmd_gateway(int argc, char **argv);     /* src/gateway/main.c */
int hs_cmd_healer(int argc, char **argv);      /* src/healer/main.c */
int hs_cmd_bench_codec(int argc, char **argv); /* src/cli/cmd_bench_codec.c */
int hs_cmd_bench_node(int argc, char **argv);  /* src/cli/cmd_bench_node.c */
int hs_cmd_bench_s3(int argc, char **argv);    /* src/cli/cmd_bench_s3.c */
int hs_cmd_cluster(int argc, char **argv);     /* src/cluster/cmd_cluster.c */
int hs_cmd_debug(int argc, char **argv);       /* src/cli/cmd_debug.c */
int hs_cmd_put(int argc, char **argv);         /* src/cli/cmd_object.c */
int hs_cmd_get(int argc, char **argv);         /* src/cli/cmd_object.c */
int hs_cmd_rm(int argc, char **argv);          /* src/cli/cmd_object.c */
int hs_cmd_ls(int argc, char **argv);          /* src/cli/cmd_object.c */
int hs_cmd_stat(int argc, char **argv);        /* src/cli/cmd_object.c */
int hs_cmd_status(int argc, char **argv);      /* src/cli/cmd_status.c */
int hs_cmd_config(int argc, char **argv);      /* src/cli/cmd_status.c */
int hs_cmd_bench(int argc, char **argv);       /* src/cli/cmd_bench.c */
int hs_cmd_key(int argc, char **argv);         /* src/cli/cmd_s3admin.c */
int hs_cmd_bucket(int argc, char **argv);      /* src/cli/cmd_s3admin.c */
int hs_cmd_layout(int argc, char **argv);      /* src/cli/cmd_layout.c */

/* src/cli/cmd_bench_layout.c */
int hs_cmd_bench_layout(int argc, char **argv);

#endif

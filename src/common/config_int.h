/* config_int.h - what config.c shares with config_print.c (not part of the contract). */
#ifndef HS_CONFIG_INT_H
#define HS_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "hs/config.h"

union hs_config_val {
    char *s;   /* HS_OPT_STRING: heap, NULL = unset */
    int64_t i; /* INT; BYTES in bytes; DURATION in ms */
    bool b;    /* BOOL */
    int e;     /* ENUM: index into choices */
};

/* HS_BUG unless the table is well-formed (names, reserved words, choices). */
void hs_config_spec_check(const struct hs_config_spec *spec);
/* "HS_NODE_" + "data-dir" -> "HS_NODE_DATA_DIR" (heap; free it). */
char *hs_config_env_name(const struct hs_config_spec *spec, const char *name);
/* The value of o's field in cfg (a string is borrowed). */
union hs_config_val hs_config_field_get(const struct hs_opt *o, const void *cfg);
/* Parses one trimmed value for o with limits and validator; on failure why holds the reason.
 * A string result is heap-owned by the caller. */
bool hs_config_parse_value(const struct hs_opt *o, const char *text, union hs_config_val *out,
                           char *why, size_t whylen);

#endif

/* config_units.c - parsers and formatters for config values with units: sizes (binary k/KiB
 * ... and decimal kB ...), durations (ms s m h d, stored in ms), booleans and plain integers.
 * Integers only: no fractions ("1.5GiB"), no signs on sizes and durations, no compound
 * durations ("1h30m"); each of these is rejected rather than guessed. */
#include "hs/config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hs/mem.h"
#include "hs/banned.h"

struct unit {
    const char *suffix;
    int64_t mult;
};

/* Matched case-insensitively. A bare "k/M/G/T" is binary, as in most tools' flags; a "B" after
 * the SI letter makes it decimal, as disk vendors write it; "iB" is explicit binary. */
static const struct unit size_units[] = {
    {"", 1},
    {"b", 1},
    {"k", INT64_C(1) << 10},
    {"kib", INT64_C(1) << 10},
    {"kb", INT64_C(1000)},
    {"m", INT64_C(1) << 20},
    {"mib", INT64_C(1) << 20},
    {"mb", INT64_C(1000000)},
    {"g", INT64_C(1) << 30},
    {"gib", INT64_C(1) << 30},
    {"gb", INT64_C(1000000000)},
    {"t", INT64_C(1) << 40},
    {"tib", INT64_C(1) << 40},
    {"tb", INT64_C(1000000000000)},
};

/* Matched exactly (lower case): "M" could be read as months. A bare number is seconds. */
static const struct unit duration_units[] = {
    {"", 1000},
    {"ms", 1},
    {"s", 1000},
    {"m", INT64_C(60000)},
    {"h", INT64_C(3600000)},
    {"d", INT64_C(86400000)},
};

/* Reads the decimal digits at *p (at least one) and advances *p past them. A value above
 * UINT64_MAX saturates and sets *overflow, so that the caller still checks what follows. */
static bool read_digits(const char **p, uint64_t *out, bool *overflow)
{
    const char *s = *p;
    uint64_t v = 0;
    bool over = false;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (over || v > (UINT64_MAX - d) / 10) {
            over = true;
            continue;
        }
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    *overflow = over;
    return true;
}

static enum hs_err parse_with_units(const char *text, const struct unit *units, size_t n_units,
                                    bool fold_case, int64_t *out)
{
    const char *p = text;
    uint64_t u;
    bool over;
    if (!read_digits(&p, &u, &over))
        return HS_EINVAL;
    for (size_t i = 0; i < n_units; i++) {
        if ((fold_case ? strcasecmp(p, units[i].suffix) : strcmp(p, units[i].suffix)) != 0)
            continue;
        uint64_t mult = (uint64_t)units[i].mult;
        if (over || u > (uint64_t)INT64_MAX / mult)
            return HS_ETOOBIG;
        *out = (int64_t)(u * mult);
        return HS_OK;
    }
    return HS_EINVAL;
}

enum hs_err hs_config_parse_bytes(const char *text, int64_t *out)
{
    return parse_with_units(text, size_units, HS_ARRAY_LEN(size_units), true, out);
}

enum hs_err hs_config_parse_duration_ms(const char *text, int64_t *out)
{
    return parse_with_units(text, duration_units, HS_ARRAY_LEN(duration_units), false, out);
}

enum hs_err hs_config_parse_int(const char *text, int64_t *out)
{
    const char *p = text;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    uint64_t u;
    bool over;
    if (!read_digits(&p, &u, &over) || *p != '\0')
        return HS_EINVAL;
    /* |INT64_MIN| = INT64_MAX + 1 does not fit int64_t: negate in unsigned, then convert */
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (over || u > limit)
        return HS_ETOOBIG;
    *out = neg ? (u == limit ? INT64_MIN : -(int64_t)u) : (int64_t)u;
    return HS_OK;
}

enum hs_err hs_config_parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < HS_ARRAY_LEN(yes); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return HS_OK;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return HS_OK;
        }
    }
    return HS_EINVAL;
}

/* Largest unit of units (largest first) that divides v exactly, else v and last_suffix. */
static const char *format_exact(int64_t v, const struct unit *units, size_t n_units,
                                const char *last_suffix, char *buf, size_t buflen)
{
    for (size_t i = 0; v > 0 && i < n_units; i++) {
        if (v % units[i].mult == 0) {
            snprintf(buf, buflen, "%" PRId64 "%s", v / units[i].mult, units[i].suffix);
            return buf;
        }
    }
    snprintf(buf, buflen, "%" PRId64 "%s", v, last_suffix);
    return buf;
}

const char *hs_config_format_bytes(int64_t bytes, char *buf, size_t buflen)
{
    static const struct unit units[] = {{"TiB", INT64_C(1) << 40},
                                        {"GiB", INT64_C(1) << 30},
                                        {"MiB", INT64_C(1) << 20},
                                        {"KiB", INT64_C(1) << 10}};
    return format_exact(bytes, units, HS_ARRAY_LEN(units), "", buf, buflen);
}

const char *hs_config_format_duration_ms(int64_t ms, char *buf, size_t buflen)
{
    static const struct unit units[] = {
        {"d", INT64_C(86400000)}, {"h", INT64_C(3600000)}, {"m", INT64_C(60000)}, {"s", 1000}};
    if (ms == 0) {
        snprintf(buf, buflen, "0s");
        return buf;
    }
    return format_exact(ms, units, HS_ARRAY_LEN(units), "ms", buf, buflen);
}

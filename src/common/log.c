/* log.c - key=value lines on stderr, one write(2) per line so concurrent threads never
 * interleave inside a line. Lines longer than the buffer are truncated, never split. */
#include "hs/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hs/clock.h"
#include "hs/banned.h"

static const char *log_comp = "hybridstore";
static enum hs_log_level log_threshold = HS_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void hs_log_init(const char *comp, enum hs_log_level threshold)
{
    if (comp)
        log_comp = comp;
    log_threshold = threshold;
}

bool hs_log_enabled(enum hs_log_level lvl)
{
    return lvl <= log_threshold;
}

bool hs_log_level_parse(const char *text, enum hs_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (enum hs_log_level)i;
            return true;
        }
    }
    return false;
}

static void log_vwrite(const char *lvl_name, const char *evt, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void log_vwrite(const char *lvl_name, const char *evt, const char *fmt, va_list ap)
{
    char line[2048];
    char ts[40];
    hs_clock_format_utc(hs_clock_wall_ms(), ts, sizeof ts);
    int n =
        snprintf(line, sizeof line, "ts=%s lvl=%s comp=%s evt=%s ", ts, lvl_name, log_comp, evt);
    if (n < 0)
        return;
    size_t used = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    int m = vsnprintf(line + used, sizeof line - used, fmt, ap);
    if (m > 0)
        used += (size_t)m < sizeof line - used ? (size_t)m : sizeof line - used - 1;
    while (used > 0 && line[used - 1] == ' ')
        used--;
    line[used++] = '\n';
    size_t off = 0;
    while (off < used) {
        ssize_t w = write(STDERR_FILENO, line + off, used - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

void hs_log_write(enum hs_log_level lvl, const char *evt, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level_names[lvl <= HS_LOG_DEBUG ? lvl : HS_LOG_DEBUG], evt, fmt, ap);
    va_end(ap);
}

void hs_bug(const char *file, int line, const char *fmt, ...)
{
    char where[256];
    snprintf(where, sizeof where, "file=%s line=%d ", file, line);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hs_log_write(HS_LOG_ERROR, "bug", "%smsg='%s'", where, msg);
    abort();
}

const char *hs_errno_text(int errnum, char *buf, unsigned long buflen)
{
    /* _GNU_SOURCE gives the GNU strerror_r, which may return a static string instead of
     * filling buf. */
    const char *s = strerror_r(errnum, buf, buflen);
    if (s != buf && buflen > 0)
        snprintf(buf, buflen, "%s", s);
    return buf;
}

/* log.h - one key=value line per event on stderr:
 *   ts=2026-11-26T07:40:00.123Z lvl=warn comp=node evt=blob_corrupt <caller's key=value text>
 * Thread-safe (one write(2) per line). The level check happens before arguments are evaluated. */
#ifndef HS_LOG_H
#define HS_LOG_H

#include <stdbool.h>

enum hs_log_level {
    HS_LOG_ERROR = 0, /* someone must act */
    HS_LOG_WARN,      /* degraded, but served or retried */
    HS_LOG_INFO,      /* lifecycle */
    HS_LOG_DEBUG,     /* per request, off by default */
};

/* Set once at startup, before threads start. comp is borrowed for the process lifetime. */
void hs_log_init(const char *comp, enum hs_log_level threshold);
bool hs_log_enabled(enum hs_log_level lvl);
/* Parses "error|warn|info|debug"; returns false on anything else. */
bool hs_log_level_parse(const char *text, enum hs_log_level *out);

/* evt: stable snake_case name. The format gives the rest of the line as key=value pairs. */
void hs_log_write(enum hs_log_level lvl, const char *evt, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define HS_LOG(lvl, evt, ...)                                                                      \
    do {                                                                                           \
        if (hs_log_enabled(lvl))                                                                   \
            hs_log_write((lvl), (evt), __VA_ARGS__);                                               \
    } while (0)

#define HS_LOG_ERROR(evt, ...) HS_LOG(HS_LOG_ERROR, evt, __VA_ARGS__)
#define HS_LOG_WARN(evt, ...)  HS_LOG(HS_LOG_WARN, evt, __VA_ARGS__)
#define HS_LOG_INFO(evt, ...)  HS_LOG(HS_LOG_INFO, evt, __VA_ARGS__)
#define HS_LOG_DEBUG(evt, ...) HS_LOG(HS_LOG_DEBUG, evt, __VA_ARGS__)

/* Logs file:line and the message, then aborts, in every build. */
#define HS_BUG(...) hs_bug(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void hs_bug(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* strerror_r wrapper: text for an errno value, thread-safe. Returns buf. */
const char *hs_errno_text(int errnum, char *buf, unsigned long buflen);

#endif

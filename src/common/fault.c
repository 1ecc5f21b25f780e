/* fault.c - fault-injection points (fault.h). The parser is always built (tests use it); the
 * hook itself only with -Dfault_injection=true, so release binaries cannot be made to crash
 * through the environment. */
#include "hs/fault.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hs/clock.h"
#include "hs/log.h"
#include "hs/banned.h"

#define FAULT_SLEEP_MAX_MS ((int64_t)3600 * 1000) /* an hour: anything longer is a typo */

static bool point_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* Parses the action text [p, end) into out; false when malformed. */
static bool parse_action(const char *p, const char *end, struct hs_fault_plan *out)
{
    size_t n = (size_t)(end - p);
    if (n == 4 && memcmp(p, "kill", 4) == 0) {
        *out = (struct hs_fault_plan){.action = HS_FAULT_KILL};
        return true;
    }
    if (n == 4 && memcmp(p, "fail", 4) == 0) {
        *out = (struct hs_fault_plan){.action = HS_FAULT_FAIL};
        return true;
    }
    if (n > 6 && memcmp(p, "sleep=", 6) == 0) {
        int64_t ms = 0;
        for (const char *q = p + 6; q < end; q++) {
            if (*q < '0' || *q > '9' || ms > FAULT_SLEEP_MAX_MS)
                return false;
            ms = ms * 10 + (*q - '0');
        }
        if (ms > FAULT_SLEEP_MAX_MS)
            return false;
        *out = (struct hs_fault_plan){.action = HS_FAULT_SLEEP, .sleep_ms = ms};
        return true;
    }
    return false;
}

bool hs_fault_plan_parse(const char *spec, const char *point, struct hs_fault_plan *out)
{
    struct hs_fault_plan found = {.action = HS_FAULT_NONE};
    bool matched = false;
    size_t plen = point ? strlen(point) : 0;
    for (const char *p = spec ? spec : ""; *p;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *name_end = p;
        while (name_end < end && point_char(*name_end))
            name_end++;
        if (name_end == p || (name_end < end && *name_end != ':'))
            return false;
        struct hs_fault_plan plan = {.action = HS_FAULT_KILL};
        if (name_end < end && !parse_action(name_end + 1, end, &plan))
            return false;
        if (!matched && point && plen == (size_t)(name_end - p) && memcmp(p, point, plen) == 0) {
            found = plan; /* the first spec naming the point wins */
            matched = true;
        }
        if (*end == ',' && end[1] == '\0')
            return false; /* a trailing ',' names nothing */
        p = *end ? end + 1 : end;
    }
    *out = found;
    return true;
}

#ifdef HS_FAULT_INJECTION
bool hs_fault_fails(const char *point)
{
    const char *spec = getenv("HS_FAULT");
    if (!spec || !*spec)
        return false;
    struct hs_fault_plan plan;
    if (!hs_fault_plan_parse(spec, point, &plan)) {
        HS_LOG_WARN("fault_spec_bad", "point=%s HS_FAULT='%s'", point, spec);
        return false;
    }
    switch (plan.action) {
    case HS_FAULT_NONE:
        return false;
    case HS_FAULT_FAIL:
        HS_LOG_WARN("fault_injected", "point=%s action=fail", point);
        return true;
    case HS_FAULT_SLEEP:
        HS_LOG_WARN("fault_injected", "point=%s action=sleep ms=%lld", point,
                    (long long)plan.sleep_ms);
        hs_clock_sleep_ms(plan.sleep_ms, NULL);
        return false;
    case HS_FAULT_KILL:
        HS_LOG_WARN("fault_injected", "point=%s action=kill pid=%d", point, (int)getpid());
        kill(getpid(), SIGKILL);
        _exit(137); /* not reached: SIGKILL cannot be caught */
    }
    return false;
}

void hs_fault(const char *point)
{
    (void)hs_fault_fails(point);
}
#endif

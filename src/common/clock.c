/* clock.c - monotonic and wall-clock milliseconds, UTC formatting without gmtime. */
#include "hs/clock.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "hs/banned.h"

int64_t hs_clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t hs_clock_mono_ms(void)
{
    return hs_clock_mono_ns() / 1000000;
}

int64_t hs_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hs_clock_format_utc(int64_t wall_ms, char *buf, size_t buflen)
{
    /* floor division: C truncates toward zero, which would print -1 ms as "...00.-01Z" */
    int64_t secs = wall_ms / 1000, ms = wall_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) { /* year out of range: tm would be left uninitialised */
        snprintf(buf, buflen, "invalid-time");
        return;
    }
    snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
}

void hs_clock_sleep_ms(int64_t ms, const struct hs_stop *stop)
{
    int64_t end = hs_clock_mono_ms() + ms;
    for (;;) {
        if (hs_stop_is_set(stop))
            return;
        int64_t left = end - hs_clock_mono_ms();
        if (left <= 0)
            return;
        if (left > 50 && stop)
            left = 50;
        struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
}

/* clock.h - time in milliseconds: monotonic for timeouts, wall clock for records and logs. */
#ifndef HS_CLOCK_H
#define HS_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "hs/stop.h"

int64_t hs_clock_mono_ms(void);
int64_t hs_clock_mono_ns(void);
int64_t hs_clock_wall_ms(void);
/* RFC 3339 UTC with milliseconds into buf (>= 32 bytes): "2026-11-26T07:40:00.123Z". */
void hs_clock_format_utc(int64_t wall_ms, char *buf, size_t buflen);
/* Sleeps, restarting after signals, unless stop is set (checked every 50 ms). stop may be
 * NULL. */
void hs_clock_sleep_ms(int64_t ms, const struct hs_stop *stop);

#endif

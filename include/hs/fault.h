/* fault.h - build-time fault-injection points for the fault tests. A daemon marks a point with
 * hs_fault("gateway.before_commit"); in a build configured with -Dfault_injection=true
 * (HS_FAULT_INJECTION defined) the point does what the environment variable HS_FAULT says when
 * it names that point, and nothing otherwise. In every other build hs_fault() is an empty macro:
 * release binaries carry no hook at all.
 *
 * HS_FAULT grammar: one or more specs separated by ',': <point>[:<action>], action
 *   kill          SIGKILL the process (the default): a crash at exactly that spot
 *   sleep=<ms>    sleep that many milliseconds, then go on (a stall, a slow peer)
 *   fail          make the step at the point fail the way the real world can (a lost answer,
 *                 an unreachable peer): only points checked with hs_fault_fails() act on it
 * e.g. HS_FAULT=gateway.before_commit  or  HS_FAULT=blob.fsync:sleep=2000,node.put:kill
 * Points are [a-z0-9._-] names owned by the module that calls them (docs/healer.md lists them).
 * A malformed spec is ignored with one warning per call; hs_fault reads the environment on every
 * call (cheap next to the I/O around a fault point; only in fault builds). Thread-safe as long
 * as nobody calls setenv concurrently. */
#ifndef HS_FAULT_H
#define HS_FAULT_H

#include <stdbool.h>
#include <stdint.h>

enum hs_fault_action {
    HS_FAULT_NONE = 0, /* the point is not armed */
    HS_FAULT_KILL,     /* SIGKILL self */
    HS_FAULT_SLEEP,    /* sleep sleep_ms, then continue */
    HS_FAULT_FAIL,     /* hs_fault_fails() answers true */
};

struct hs_fault_plan {
    enum hs_fault_action action;
    int64_t sleep_ms; /* HS_FAULT_SLEEP */
};

/* What spec (an HS_FAULT value, may be NULL) says for point. false (out untouched) when spec is
 * malformed; true with HS_FAULT_NONE when it is well formed but does not name point. Pure:
 * available in every build, for tests and tools. */
bool hs_fault_plan_parse(const char *spec, const char *point, struct hs_fault_plan *out);

#ifdef HS_FAULT_INJECTION
/* Acts on HS_FAULT for point (see above). Returns only when the action is not kill; `fail` is
 * ignored here. */
void hs_fault(const char *point);
/* Like hs_fault, and true when the point is armed with `fail`: the caller then takes its
 * failure path as if the real step had failed. */
bool hs_fault_fails(const char *point);
#else
#define hs_fault(point)       ((void)0)
#define hs_fault_fails(point) false
#endif

#endif

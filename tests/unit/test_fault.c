/* test_fault.c - fault-injection points (hs/fault.h): the HS_FAULT grammar (point, kill and
 * sleep actions, lists, malformed specs) in every build; in a -Dfault_injection=true build also
 * that an armed point really SIGKILLs the process (in a forked child) or sleeps; in any other
 * build that hs_fault() is a no-op even when HS_FAULT names the point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "hs/clock.h"
#include "hs/fault.h"
#include "hs/banned.h"

static void point_without_action_means_kill(void **state)
{
    (void)state;
    struct hs_fault_plan p = {0};
    assert_true(hs_fault_plan_parse("gateway.before_commit", "gateway.before_commit", &p));
    assert_int_equal(p.action, HS_FAULT_KILL);
    assert_true(hs_fault_plan_parse("gateway.before_commit:kill", "gateway.before_commit", &p));
    assert_int_equal(p.action, HS_FAULT_KILL);
}

static void sleep_action_gives_milliseconds(void **state)
{
    (void)state;
    struct hs_fault_plan p = {0};
    assert_true(hs_fault_plan_parse("blob.fsync:sleep=1500", "blob.fsync", &p));
    assert_int_equal(p.action, HS_FAULT_SLEEP);
    assert_int_equal(p.sleep_ms, 1500);
}

static void fail_action_is_parsed(void **state)
{
    (void)state;
    struct hs_fault_plan p = {0};
    assert_true(hs_fault_plan_parse("a.b:sleep=5,gateway.fence:fail", "gateway.fence", &p));
    assert_int_equal(p.action, HS_FAULT_FAIL);
    assert_false(hs_fault_plan_parse("gateway.fence:failed", "gateway.fence", &p));
}

static void other_points_and_empty_specs_are_not_armed(void **state)
{
    (void)state;
    struct hs_fault_plan p = {.action = HS_FAULT_KILL};
    assert_true(hs_fault_plan_parse("blob.fsync", "blob.fsync2", &p));
    assert_int_equal(p.action, HS_FAULT_NONE);
    p.action = HS_FAULT_KILL;
    assert_true(hs_fault_plan_parse("blob", "blob.fsync", &p)); /* no prefix matching */
    assert_int_equal(p.action, HS_FAULT_NONE);
    p.action = HS_FAULT_KILL;
    assert_true(hs_fault_plan_parse("", "blob.fsync", &p));
    assert_int_equal(p.action, HS_FAULT_NONE);
    p.action = HS_FAULT_KILL;
    assert_true(hs_fault_plan_parse(NULL, "blob.fsync", &p));
    assert_int_equal(p.action, HS_FAULT_NONE);
}

static void list_of_specs_first_naming_the_point_wins(void **state)
{
    (void)state;
    struct hs_fault_plan p = {0};
    const char *spec = "a.b:sleep=5,node.put,node.put:sleep=9";
    assert_true(hs_fault_plan_parse(spec, "node.put", &p));
    assert_int_equal(p.action, HS_FAULT_KILL);
    assert_true(hs_fault_plan_parse(spec, "a.b", &p));
    assert_int_equal(p.action, HS_FAULT_SLEEP);
    assert_int_equal(p.sleep_ms, 5);
}

static void malformed_specs_are_refused_and_out_untouched(void **state)
{
    (void)state;
    static const char *const bad[] = {
        ":kill",
        "a:",
        "a:sleep=",
        "a:sleep=x",
        "a:sleep=-1",
        "a:boom",
        "A.b",
        "a,,b",
        "a:kill,",
        "a b",
        "a:sleep=99999999999999999999",
        "a:sleep",
        "a:killall",
        "a:sleep=1x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hs_fault_plan p = {.action = HS_FAULT_SLEEP, .sleep_ms = 77};
        if (hs_fault_plan_parse(bad[i], "a", &p))
            fail_msg("accepted malformed spec '%s'", bad[i]);
        assert_int_equal(p.action, HS_FAULT_SLEEP);
        assert_int_equal(p.sleep_ms, 77);
    }
}

#ifdef HS_FAULT_INJECTION
static void armed_kill_point_sigkills_the_process(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("HS_FAULT", "test.other:sleep=1,test.point", 1);
        hs_fault("test.other");
        hs_fault("test.point");
        _exit(0); /* reached only if the point did not fire */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void armed_sleep_point_sleeps_then_returns(void **state)
{
    (void)state;
    setenv("HS_FAULT", "test.nap:sleep=60", 1);
    int64_t t0 = hs_clock_mono_ms();
    hs_fault("test.nap");
    assert_true(hs_clock_mono_ms() - t0 >= 60);
    t0 = hs_clock_mono_ms();
    hs_fault("test.awake");
    assert_true(hs_clock_mono_ms() - t0 < 60);
    unsetenv("HS_FAULT");
}

static void armed_fail_point_fails_only_there(void **state)
{
    (void)state;
    setenv("HS_FAULT", "test.lost:fail,test.nap:sleep=1", 1);
    assert_true(hs_fault_fails("test.lost"));
    assert_false(hs_fault_fails("test.nap")); /* sleeps, then goes on */
    assert_false(hs_fault_fails("test.other"));
    hs_fault("test.lost"); /* a plain point ignores `fail` */
    unsetenv("HS_FAULT");
    assert_false(hs_fault_fails("test.lost"));
}
#else
static void release_build_ignores_an_armed_point(void **state)
{
    (void)state;
    setenv("HS_FAULT", "test.point,test.lost:fail", 1);
    hs_fault("test.point"); /* an empty macro: the test process survives */
    assert_false(hs_fault_fails("test.lost"));
    unsetenv("HS_FAULT");
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(point_without_action_means_kill),
        cmocka_unit_test(sleep_action_gives_milliseconds),
        cmocka_unit_test(fail_action_is_parsed),
        cmocka_unit_test(other_points_and_empty_specs_are_not_armed),
        cmocka_unit_test(list_of_specs_first_naming_the_point_wins),
        cmocka_unit_test(malformed_specs_are_refused_and_out_untouched),
#ifdef HS_FAULT_INJECTION
        cmocka_unit_test(armed_kill_point_sigkills_the_process),
        cmocka_unit_test(armed_sleep_point_sleeps_then_returns),
        cmocka_unit_test(armed_fail_point_fails_only_there),
#else
        cmocka_unit_test(release_build_ignores_an_armed_point),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

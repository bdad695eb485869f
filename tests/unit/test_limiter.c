/* The login rate limit's table (api/limiter.c): attempts per key per window, bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/limiter.h"

static pd_limiter lim;

static void attempts_per_window(void **state)
{
    (void)state;
    pd_limiter_init(&lim, 3, 60000);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pd_limiter_wait(&lim, "a:10.0.0.1", 1000 + i), 0);
        pd_limiter_hit(&lim, "a:10.0.0.1", 1000 + i);
    }
    assert_int_equal(pd_limiter_wait(&lim, "a:10.0.0.1", 2000), 59000);
    assert_int_equal(pd_limiter_wait(&lim, "a:10.0.0.2", 2000), 0);
    /* the window ends: a fresh count */
    assert_int_equal(pd_limiter_wait(&lim, "a:10.0.0.1", 61000), 0);
    pd_limiter_hit(&lim, "a:10.0.0.1", 61000);
    assert_int_equal(pd_limiter_wait(&lim, "a:10.0.0.1", 61001), 0);
    /* a success forgets the key */
    pd_limiter_hit(&lim, "u:ada", 0);
    pd_limiter_hit(&lim, "u:ada", 0);
    pd_limiter_hit(&lim, "u:ada", 0);
    assert_true(pd_limiter_wait(&lim, "u:ada", 1) > 0);
    pd_limiter_clear(&lim, "u:ada");
    assert_int_equal(pd_limiter_wait(&lim, "u:ada", 1), 0);
}

static void bounded_forgets_the_oldest(void **state)
{
    (void)state;
    pd_limiter_init(&lim, 1, 60000);
    pd_limiter_hit(&lim, "victim", 5000);
    char key[32];
    for (int i = 0; i < PD_LIMITER_SLOTS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        pd_limiter_hit(&lim, key, i < PD_LIMITER_SLOTS - 1 ? 6000 : 7000);
    }
    assert_int_equal(lim.n, PD_LIMITER_SLOTS);
    /* the least recently seen key made room */
    assert_int_equal(pd_limiter_wait(&lim, "victim", 8000), 0);
    assert_true(pd_limiter_wait(&lim, "k1", 8000) > 0);
    /* a long key is cut, not overflowed */
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    pd_limiter_hit(&lim, big, 9000);
    assert_true(pd_limiter_wait(&lim, big, 9001) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(attempts_per_window),
        cmocka_unit_test(bounded_forgets_the_oldest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

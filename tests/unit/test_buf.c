/* core/buf: growth, the maximum (reached exactly, passed by one), the state a failure leaves,
 * detach, reset keeping the memory, zero-length adds, the NUL after the bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"

/* The bytes are what was added, followed by a NUL. */
static void assert_holds(pd_buf *b, const char *want, size_t n)
{
    assert_int_equal(pd_buf_len(b), n);
    assert_non_null(pd_buf_ptr(b));
    assert_memory_equal(pd_buf_ptr(b), want, n);
    assert_int_equal(pd_buf_ptr(b)[n], '\0');
}

static void grows(void **st)
{
    (void)st;
    pd_buf b;
    pd_buf_init(&b, 1 << 20);
    assert_null(pd_buf_ptr(&b));  /* nothing allocated before the first add */
    assert_int_equal(pd_buf_room(&b), 0);
    assert_int_equal(pd_buf_addc(&b, 'a'), PD_OK);
    assert_int_equal(pd_buf_add_str(&b, "bc"), PD_OK);
    assert_holds(&b, "abc", 3);
    assert_int_equal(pd_buf_room(&b), 1024 - 3 - 1);  /* the first allocation: the minimum */

    /* piece by piece: every byte kept, the capacity doubling */
    char want[5000];
    for (size_t i = 0; i < sizeof want; i++)
        want[i] = (char)('a' + i % 26);
    pd_buf_reset(&b);
    for (size_t i = 0; i < sizeof want; i += 7)
        assert_int_equal(pd_buf_add(&b, want + i, i + 7 <= sizeof want ? 7 : sizeof want - i), PD_OK);
    assert_holds(&b, want, sizeof want);
    assert_int_equal(pd_buf_room(&b), 8192 - sizeof want - 1);
    pd_buf_free(&b);
    assert_null(pd_buf_ptr(&b));

    /* a first add over the minimum is allocated exactly, then doubles */
    assert_int_equal(pd_buf_add(&b, want, sizeof want), PD_OK);
    assert_int_equal(pd_buf_room(&b), 0);
    assert_int_equal(pd_buf_addc(&b, '!'), PD_OK);
    assert_int_equal(pd_buf_room(&b), 2 * (sizeof want + 1) - (sizeof want + 1) - 1);
    assert_int_equal(pd_buf_ptr(&b)[sizeof want], '!');
    pd_buf_free(&b);
}

static void maximum(void **st)
{
    (void)st;
    char bytes[101];
    memset(bytes, 'x', sizeof bytes);
    pd_buf b;
    pd_buf_init(&b, 100);

    /* exactly the maximum fits, NUL included, in no more than max + 1 bytes */
    assert_int_equal(pd_buf_add(&b, bytes, 60), PD_OK);
    assert_int_equal(pd_buf_add(&b, bytes, 40), PD_OK);
    assert_holds(&b, bytes, 100);
    assert_int_equal(pd_buf_room(&b), 0);
    assert_int_equal(pd_buf_add(&b, bytes, 0), PD_OK);  /* nothing more is still nothing */
    assert_holds(&b, bytes, 100);

    /* one past it fails, frees, and keeps failing until reset */
    assert_int_equal(pd_buf_addc(&b, 'y'), PD_ERR_TOOBIG);
    assert_int_equal(pd_buf_err(&b), PD_ERR_TOOBIG);
    assert_null(pd_buf_ptr(&b));
    assert_int_equal(pd_buf_len(&b), 0);
    assert_int_equal(pd_buf_add(&b, "z", 1), PD_ERR_TOOBIG);
    assert_int_equal(pd_buf_add(&b, "", 0), PD_ERR_TOOBIG);
    assert_null(pd_buf_extend(&b, 1));
    assert_int_equal(pd_buf_reserve(&b, 1), PD_ERR_TOOBIG);
    assert_null(pd_buf_ptr(&b));
    pd_buf_reset(&b);
    assert_int_equal(pd_buf_err(&b), PD_OK);
    assert_int_equal(pd_buf_add_str(&b, "again"), PD_OK);
    assert_holds(&b, "again", 5);

    /* one add past the maximum from empty: refused without allocating */
    pd_buf_free(&b);
    assert_int_equal(pd_buf_add(&b, bytes, 101), PD_ERR_TOOBIG);
    assert_null(pd_buf_ptr(&b));
    pd_buf_reset(&b);
    assert_int_equal(pd_buf_reserve(&b, 101), PD_ERR_TOOBIG);
    pd_buf_free(&b);

    /* a maximum of nothing still takes nothing */
    pd_buf_init(&b, 0);
    assert_int_equal(pd_buf_add(&b, "", 0), PD_OK);
    assert_holds(&b, "", 0);
    assert_int_equal(pd_buf_addc(&b, 'a'), PD_ERR_TOOBIG);
    pd_buf_free(&b);
}

static void zero_length(void **st)
{
    (void)st;
    pd_buf b;
    pd_buf_init(&b, 64);
    /* the first add, even of nothing, makes the buffer a string */
    assert_int_equal(pd_buf_add(&b, "", 0), PD_OK);
    assert_holds(&b, "", 0);
    assert_int_equal(pd_buf_add_str(&b, ""), PD_OK);
    assert_int_equal(pd_buf_add_str(&b, "ab"), PD_OK);
    assert_int_equal(pd_buf_add(&b, "cd", 0), PD_OK);
    assert_holds(&b, "ab", 2);
    pd_buf_free(&b);
}

static void detach(void **st)
{
    (void)st;
    pd_buf b;
    size_t len = 99;
    pd_buf_init(&b, 8);
    assert_null(pd_buf_detach(&b, &len));  /* never added to */
    assert_int_equal(len, 0);

    assert_int_equal(pd_buf_add_str(&b, "12345678"), PD_OK);
    char *p = pd_buf_detach(&b, &len);
    assert_int_equal(len, 8);
    assert_string_equal(p, "12345678");
    free(p);
    /* empty afterwards, with the same maximum */
    assert_null(pd_buf_ptr(&b));
    assert_int_equal(pd_buf_len(&b), 0);
    assert_int_equal(pd_buf_add_str(&b, "123456789"), PD_ERR_TOOBIG);
    assert_null(pd_buf_detach(&b, &len));  /* after a failure: nothing to hand over */
    assert_int_equal(len, 0);
    assert_int_equal(pd_buf_add_str(&b, "ok"), PD_OK);  /* detach cleared the failure */
    p = pd_buf_detach(&b, NULL);
    assert_string_equal(p, "ok");
    free(p);
}

static void reset_keeps_memory(void **st)
{
    (void)st;
    pd_buf b;
    pd_buf_init(&b, 1 << 20);
    char big[3000] = {0};
    assert_int_equal(pd_buf_add(&b, big, sizeof big), PD_OK);
    const char *p = pd_buf_ptr(&b);
    pd_buf_reset(&b);
    assert_ptr_equal(pd_buf_ptr(&b), p);
    assert_holds(&b, "", 0);
    assert_int_equal(pd_buf_room(&b), sizeof big);
    assert_int_equal(pd_buf_add(&b, big, sizeof big), PD_OK);  /* no reallocation */
    assert_ptr_equal(pd_buf_ptr(&b), p);
    pd_buf_free(&b);
}

static void reserve_extend_cut(void **st)
{
    (void)st;
    pd_buf b;
    pd_buf_init(&b, 1 << 20);
    assert_int_equal(pd_buf_reserve(&b, 5000), PD_OK);
    assert_holds(&b, "", 0);  /* reserved, still empty: reads as "" */
    const char *p = pd_buf_ptr(&b);
    for (int i = 0; i < 50; i++)
        assert_int_equal(pd_buf_add(&b, "0123456789012345678901234567890123456789012345678901234567890123456789"
                                        "012345678901234567890123456789", 100), PD_OK);
    assert_ptr_equal(pd_buf_ptr(&b), p);  /* the reserved room was enough */
    pd_buf_free(&b);

    char *at = pd_buf_extend(&b, 4);
    assert_non_null(at);
    memcpy(at, "head", 4);
    at = pd_buf_extend(&b, 6);
    memcpy(at, "ABCDEF", 6);
    assert_holds(&b, "headABCDEF", 10);
    pd_buf_cut(&b, 4, 2);  /* from the middle */
    assert_holds(&b, "headCDEF", 8);
    pd_buf_cut(&b, 4, 4);  /* up to the end */
    assert_holds(&b, "head", 4);
    pd_buf_cut(&b, 4, 0);
    assert_holds(&b, "head", 4);
    pd_buf_free(&b);
}

/* RFC 4180 quoting, and every leading character a spreadsheet reads as a formula */
static void csv_cells(void **st)
{
    (void)st;
    static const char *const in[] = {"plain", "a,b", "say \"hi\"", "=1+1", "+1", "-1", "@x", "\tcmd",
                                     "\r=1", "line\nbreak"};
    static const char *const want[] = {"plain", "\"a,b\"", "\"say \"\"hi\"\"\"", "\"'=1+1\"", "\"'+1\"",
                                       "\"'-1\"", "\"'@x\"", "\"'\tcmd\"", "\"'\r=1\"", "\"line\nbreak\""};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        pd_buf b;
        pd_buf_init(&b, 256);
        pd_buf_add_csv(&b, in[i]);
        assert_holds(&b, want[i], strlen(want[i]));
        pd_buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grows),
        cmocka_unit_test(maximum),
        cmocka_unit_test(zero_length),
        cmocka_unit_test(detach),
        cmocka_unit_test(reset_keeps_memory),
        cmocka_unit_test(reserve_extend_cut),
        cmocka_unit_test(csv_cells),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

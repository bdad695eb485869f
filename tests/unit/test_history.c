/* track/history: samples in order with their shared timestamps, the ring's bound, since, gaps
 * while offline, AMS units sampled every 60 s and aligned, printers added and removed between
 * ticks, the memory it reports, replies reduced to a chart's width with their peaks. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "track/history.h"

static pd_state state(double nozzle)
{
    pd_state st;
    pd_state_init(&st);
    st.nozzle_temp = nozzle;
    st.nozzle_target = 220;
    st.bed_temp = 60.04;
    st.fan_part = 80;
    return st;
}

static void tick(pd_history *h, int64_t ms, const int64_t *ids, const pd_state *st,
                 const bool *online, size_t n)
{
    pd_history_tick_begin(h, ms);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pd_history_put(h, ids[i], &st[i], online ? online[i] : true), PD_OK);
    pd_history_tick_end(h);
}

static json_t *series(json_t *o, const char *key) { return json_object_get(o, key); }

static void ring_bound_and_since(void **s)
{
    (void)s;
    pd_history *h;
    assert_int_equal(pd_history_start(&h, NULL, NULL, 5, 60, 60), PD_OK); /* 13 samples */
    int64_t id = 3;
    for (int i = 0; i < 20; i++) {
        pd_state st = state(200 + i);
        tick(h, 1000000 + i * 5000, &id, &st, NULL, 1);
    }
    json_t *o = pd_history_json(h, 3, 0, 0);
    assert_int_equal(json_integer_value(json_object_get(o, "interval_s")), 5);
    assert_int_equal(json_integer_value(json_object_get(o, "keep_s")), 60);
    json_t *t = series(o, "t"), *noz = series(o, "nozzle");
    assert_int_equal(json_array_size(t), 13);
    assert_int_equal(json_array_size(noz), 13);
    assert_int_equal(json_integer_value(json_array_get(t, 0)), 1000000 + 7 * 5000);
    assert_true(json_real_value(json_array_get(noz, 12)) == 219.0);
    assert_true(fabs(json_real_value(json_array_get(series(o, "bed"), 0)) - 60.0) < 1e-9);
    assert_int_equal(json_integer_value(json_array_get(series(o, "fan_part"), 0)), 80);
    assert_true(json_is_null(json_array_get(series(o, "chamber"), 0)));   /* NAN: no sensor */
    assert_true(json_is_null(json_array_get(series(o, "fan_aux"), 0)));   /* -1 unknown */
    json_decref(o);

    o = pd_history_json(h, 3, 1000000 + 17 * 5000, 0);
    assert_int_equal(json_array_size(series(o, "t")), 2);
    assert_true(json_real_value(json_array_get(series(o, "nozzle"), 0)) == 218.0);
    json_decref(o);

    o = pd_history_json(h, 99, 0, 0);   /* not sampled: empty series */
    assert_int_equal(json_array_size(series(o, "t")), 0);
    assert_int_equal(json_array_size(json_object_get(json_object_get(o, "ams"), "units")), 0);
    json_decref(o);
    pd_history_stop(&h);
    assert_null(h);
}

static void offline_gap_add_remove(void **s)
{
    (void)s;
    pd_history *h;
    assert_int_equal(pd_history_start(&h, NULL, NULL, 5, 60, 3600), PD_OK);
    int64_t ids[3] = {1, 2, 5};
    pd_state st[3] = {state(100), state(150), state(250)};
    bool on[3] = {true, false, true};
    tick(h, 5000, ids, st, NULL, 1);           /* only printer 1 */
    tick(h, 10000, ids, st, on, 3);            /* 2 (offline) and 5 join */
    size_t with3 = pd_history_bytes(h);
    tick(h, 15000, (int64_t[]){1, 5}, (pd_state[]){st[0], st[2]}, NULL, 2);  /* 2 removed */
    assert_true(pd_history_bytes(h) < with3);

    json_t *o = pd_history_json(h, 1, 0, 0);
    assert_int_equal(json_array_size(series(o, "t")), 3);
    json_decref(o);
    o = pd_history_json(h, 5, 0, 0);
    assert_int_equal(json_array_size(series(o, "t")), 2);
    assert_int_equal(json_integer_value(json_array_get(series(o, "t"), 0)), 10000);
    json_decref(o);
    o = pd_history_json(h, 2, 0, 0);                     /* its ring went with it */
    assert_int_equal(json_array_size(series(o, "t")), 0);
    json_decref(o);

    /* re-added after a removal, offline: a gap, not the last reading */
    tick(h, 20000, (int64_t[]){1, 2, 5}, st, on, 3);
    o = pd_history_json(h, 2, 0, 0);
    assert_int_equal(json_array_size(series(o, "t")), 1);
    assert_true(json_is_null(json_array_get(series(o, "nozzle"), 0)));
    assert_true(json_is_null(json_array_get(series(o, "fan_part"), 0)));
    json_decref(o);
    pd_history_stop(&h);
}

static void ams_every_minute(void **s)
{
    (void)s;
    pd_history *h;
    assert_int_equal(pd_history_start(&h, NULL, NULL, 5, 60, 3600), PD_OK);
    int64_t id = 7;
    pd_state st = state(200);
    st.n_ams = 2;
    st.ams[0] = (pd_ams_unit){.id = 0, .humidity = 4, .humidity_pct = 22, .temp = 26.5};
    st.ams[1] = (pd_ams_unit){.id = 128, .humidity = 0, .humidity_pct = -1, .temp = 0};
    for (int i = 0; i < 25; i++) {   /* AMS ticks at 0, 12, 24 */
        if (i == 24)
            st.n_ams = 1;            /* the AMS HT unplugged */
        tick(h, 60000 + i * 5000, &id, &st, NULL, 1);
    }
    json_t *o = pd_history_json(h, 7, 0, 0);
    json_t *ams = json_object_get(o, "ams");
    assert_int_equal(json_integer_value(json_object_get(ams, "interval_s")), 60);
    assert_int_equal(json_array_size(json_object_get(ams, "t")), 3);
    json_t *units = json_object_get(ams, "units");
    assert_int_equal(json_array_size(units), 2);
    json_t *u0 = json_array_get(units, 0), *u1 = json_array_get(units, 1);
    assert_int_equal(json_integer_value(json_object_get(u0, "id")), 0);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(u0, "humidity"), 2)), 22);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(u0, "humidity_level"), 0)), 4);
    assert_true(json_real_value(json_array_get(json_object_get(u0, "temp"), 1)) == 26.5);
    assert_int_equal(json_integer_value(json_object_get(u1, "id")), 128);
    assert_true(json_is_null(json_array_get(json_object_get(u1, "humidity"), 0)));
    assert_true(json_is_null(json_array_get(json_object_get(u1, "temp"), 0)));  /* 0 = none */
    assert_true(json_is_null(json_array_get(json_object_get(u1, "humidity_level"), 2)));
    assert_int_equal(json_array_size(json_object_get(u1, "temp")), 3);          /* aligned */
    json_decref(o);
    pd_history_stop(&h);
}

/* points: 720 samples of an hour at 5 s reduced to a chart's width, min and max per bucket in
 * the order they happened, so a one-sample spike and dip survive; a gap stays a gap; since and
 * points together; the AMS columns reduced alike and aligned. */
static void downsampled(void **s)
{
    (void)s;
    pd_history *h;
    assert_int_equal(pd_history_start(&h, NULL, NULL, 5, 60, 3600), PD_OK);
    int64_t id = 4;
    for (int i = 0; i < 721; i++) {
        pd_state st = state(200 + (i % 10));            /* 200-209 °C, a sawtooth */
        if (i == 100)
            st.nozzle_temp = 260.5;                    /* one sample's spike */
        if (i == 101)
            st.nozzle_temp = 150;                      /* and a dip right after it */
        st.nozzle_target = i < 400 ? 220 : 0;          /* the heater turned off: a step */
        st.n_ams = 1;
        st.ams[0] = (pd_ams_unit){.id = 0, .humidity = 3, .humidity_pct = 20 + i % 7, .temp = 25};
        bool on = i < 500 || i >= 560;                 /* five minutes offline */
        tick(h, 1000000 + (int64_t)i * 5000, &id, &st, &on, 1);
    }
    json_t *all = pd_history_json(h, 4, 0, 0);
    assert_int_equal(json_array_size(series(all, "t")), 721);
    json_t *o = pd_history_json(h, 4, 0, 100);
    json_t *t = series(o, "t"), *noz = series(o, "nozzle"), *tgt = series(o, "nozzle_target");
    assert_int_equal(json_array_size(t), 100);               /* 50 buckets of 14-15 samples */
    assert_int_equal(json_array_size(noz), 100);
    assert_int_equal(json_array_size(series(o, "fan_part")), 100);
    assert_int_equal(json_integer_value(json_array_get(t, 0)), 1000000);
    assert_int_equal(json_integer_value(json_array_get(t, 99)), 1000000 + 720 * 5000);
    double hi = 0, lo = 1e9;
    size_t at_hi = 0, at_lo = 0;
    for (size_t i = 0; i < json_array_size(noz); i++) {
        json_t *v = json_array_get(noz, i);
        if (json_is_null(v))
            continue;
        if (json_real_value(v) > hi)
            hi = json_real_value(v), at_hi = i;
        if (json_real_value(v) < lo)
            lo = json_real_value(v), at_lo = i;
        assert_true(json_integer_value(json_array_get(t, i)) >= 1000000);
    }
    assert_true(hi == 260.5);                                 /* the spike survives */
    assert_true(lo == 150.0);                                 /* and the dip, after it */
    assert_int_equal(at_lo, at_hi + 1);
    /* the step: full before, 0 after, both in the bucket that holds it */
    assert_true(json_real_value(json_array_get(tgt, 0)) == 220.0);
    assert_true(json_real_value(json_array_get(tgt, 99)) == 0.0);
    /* offline from sample 500 to 559: the buckets wholly inside are null */
    size_t nulls = 0;
    for (size_t i = 0; i < json_array_size(noz); i++)
        nulls += json_is_null(json_array_get(noz, i));
    assert_true(nulls >= 6 && nulls % 2 == 0);
    json_t *ams = json_object_get(o, "ams"), *u0 = json_array_get(json_object_get(ams, "units"), 0);
    assert_int_equal(json_array_size(json_object_get(ams, "t")), 61);   /* 61 AMS samples: all */
    assert_int_equal(json_array_size(json_object_get(u0, "humidity")), 61);
    json_decref(o);

    /* a width of 10: the AMS columns too, aligned with their own times */
    o = pd_history_json(h, 4, 0, 10);
    ams = json_object_get(o, "ams");
    u0 = json_array_get(json_object_get(ams, "units"), 0);
    assert_int_equal(json_array_size(series(o, "t")), 10);
    assert_int_equal(json_array_size(json_object_get(ams, "t")), 10);
    assert_int_equal(json_array_size(json_object_get(u0, "temp")), 10);
    assert_int_equal(json_array_size(json_object_get(u0, "humidity_level")), 10);
    json_decref(o);

    /* since, then points: only what is after since is reduced; fewer samples than points are
     * all sent */
    o = pd_history_json(h, 4, 1000000 + 700 * 5000, 100);
    assert_int_equal(json_array_size(series(o, "t")), 20);
    assert_true(json_equal(json_array_get(series(o, "nozzle"), 19),
                           json_array_get(series(all, "nozzle"), 720)));
    json_decref(o);
    /* an odd width: never more rows than asked */
    o = pd_history_json(h, 4, 0, 7);
    assert_int_equal(json_array_size(series(o, "t")), 6);
    json_decref(o);
    json_decref(all);
    pd_history_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ring_bound_and_since),
        cmocka_unit_test(offline_gap_add_remove),
        cmocka_unit_test(ams_every_minute),
        cmocka_unit_test(downsampled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

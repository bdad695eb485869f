/* Filaments to trays and grams to spools (src/track/split.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "track/split.h"

static const pd_split_tray trays[] = {
    {0, 0, 11, "PLA", "#FF0000FF"},
    {0, 1, 12, "PLA", "#FF0000FF"},   /* a second red PLA: the backup */
    {0, 2, 13, "PETG", "#0000FFFF"},
    {255, 0, 14, "PLA", "#FFFFFFFF"}, /* the external holder */
};
#define NT 4

static void tray_numbers(void **state)
{
    (void)state;
    assert_int_equal(pd_split_tray_now(255, 0), 254);
    assert_int_equal(pd_split_tray_now(1, 2), 6);
    assert_true(pd_split_same_material("PLA", "p.l.a"));
    assert_false(pd_split_same_material("PLA", "PLA-CF"));
}

static void map_by_mapping_then_tray_now_then_match(void **state)
{
    (void)state;
    pd_split_fil fil[2] = {{"PLA", "#FF0000", 10, -1}, {"PETG", "#0000FF", 5, -1}};
    pd_split_map m[2];
    int cmd[2] = {0x0001, 65535};  /* unit 0 slot 1; the second unused */
    pd_split_map_filaments(fil, 2, trays, NT, cmd, 2, NULL, 0, m);
    assert_int_equal(m[0].how, PD_MAP_COMMAND);
    assert_int_equal(m[0].tray, 1);
    assert_int_equal(m[1].how, PD_MAP_MATCH);
    assert_int_equal(m[1].tray, 2);

    /* one filament: the tray that fed it, whatever the colours say */
    pd_split_event ev[] = {{PD_SPLIT_FEED, 255, 0, 0, 0}};
    pd_split_map_filaments(fil, 1, trays, NT, NULL, 0, ev, 1, m);
    assert_int_equal(m[0].how, PD_MAP_TRAY_NOW);
    assert_int_equal(m[0].tray, 3);
}

static void two_alike_spools_are_ambiguous_unless_one_fed(void **state)
{
    (void)state;
    pd_split_fil fil[2] = {{"PLA", "#FF0000", 10, -1}, {"PETG", "#0000FF", 5, -1}};
    pd_split_map m[2];
    pd_split_map_filaments(fil, 2, trays, NT, NULL, 0, NULL, 0, m);
    assert_int_equal(m[0].how, PD_MAP_AMBIGUOUS);
    assert_int_equal(m[0].ncand, 2);
    assert_int_equal(m[0].tray, PD_SPLIT_NO_TRAY);
    pd_split_event ev[] = {{PD_SPLIT_FEED, 0, 2, 0, 0}, {PD_SPLIT_FEED, 0, 1, 0, 3}};
    pd_split_map_filaments(fil, 2, trays, NT, NULL, 0, ev, 2, m);
    assert_int_equal(m[0].how, PD_MAP_MATCH);
    assert_int_equal(m[0].tray, 1);
    /* no tray of the material: no spool */
    pd_split_fil abs[1] = {{"ABS", "#000000", 3, -1}};
    pd_split_map_filaments(abs, 1, trays, NT, NULL, 0, NULL, 0, m);
    assert_int_equal(m[0].how, PD_MAP_NONE);
}

/* a linear curve: 1 g per layer over 100 layers */
static pd_split_curve *linear(int nfil)
{
    static pd_split_curve c;
    c.n = 101;
    c.nfil = nfil;
    for (int i = 0; i <= 100; i++) {
        c.layers[i] = i;
        for (int f = 0; f < nfil; f++)
            c.grams[f][i] = (float)i * (float)(f + 1);
    }
    return &c;
}

static void rollover_splits_at_the_layer_and_ignores_255(void **state)
{
    (void)state;
    pd_split_fil fil[1] = {{"PLA", "#FF0000", 100, 33}};
    pd_split_event ev[] = {{PD_SPLIT_FEED, 0, 0, 0, 0}, {PD_SPLIT_FEED, 0, 1, 0, 40}};
    pd_split_map m[1];
    pd_split_map_filaments(fil, 1, trays, NT, NULL, 0, ev, 2, m);
    pd_split_piece p[8];
    size_t n = pd_split_pieces(fil, 1, m, trays, NT, ev, 2, linear(1), 100, p, 8);
    assert_int_equal(n, 2);
    assert_int_equal(p[0].spool_id, 11);
    assert_true(p[0].grams > 39.99 && p[0].grams < 40.01);
    assert_int_equal(p[1].spool_id, 12);
    assert_true(p[1].grams > 59.99 && p[1].grams < 60.01);
    assert_true(p[1].meters > 19.7 && p[1].meters < 19.9);
}

static void a_failed_print_stops_at_its_layer(void **state)
{
    (void)state;
    pd_split_curve *c = linear(1);
    pd_split_fil fil[1] = {{"PLA", "#FF0000", 0, -1}};
    fil[0].grams = pd_split_curve_at(c, 0, 39.5);
    assert_true(fil[0].grams > 39.49 && fil[0].grams < 39.51);
    pd_split_event ev[] = {{PD_SPLIT_FEED, 0, 0, 0, 0}, {PD_SPLIT_FEED, 0, 1, 0, 60}};
    pd_split_map m[1];
    pd_split_map_filaments(fil, 1, trays, NT, NULL, 0, ev, 2, m);
    pd_split_piece p[8];
    /* the switch came after the last layer printed: all on the first spool */
    size_t n = pd_split_pieces(fil, 1, m, trays, NT, ev, 2, c, 39.5, p, 8);
    assert_int_equal(n, 1);
    assert_int_equal(p[0].spool_id, 11);
}

static void a_swap_in_the_same_tray_changes_the_spool(void **state)
{
    (void)state;
    pd_split_fil fil[1] = {{"PLA", "#FF0000", 100, -1}};
    pd_split_event ev[] = {{PD_SPLIT_FEED, 0, 0, 0, 0}, {PD_SPLIT_SWAP, 0, 0, 77, 25}};
    pd_split_map m[1];
    pd_split_map_filaments(fil, 1, trays, NT, NULL, 0, ev, 2, m);
    pd_split_piece p[8];
    size_t n = pd_split_pieces(fil, 1, m, trays, NT, ev, 2, linear(1), 100, p, 8);
    assert_int_equal(n, 2);
    assert_int_equal(p[0].spool_id, 11);
    assert_true(p[0].grams > 24.99 && p[0].grams < 25.01);
    assert_int_equal(p[1].spool_id, 77);
    assert_int_equal(p[1].unit, 0);
}

static void multi_colour_rollover_goes_to_the_filament_of_that_material(void **state)
{
    (void)state;
    pd_split_fil fil[2] = {{"PLA", "#FF0000", 100, -1}, {"PETG", "#0000FF", 200, -1}};
    int cmd[2] = {0x0000, 0x0002};
    /* colour changes between mapped trays are no switch; slot 1 (PLA) takes over filament 1 */
    pd_split_event ev[] = {{PD_SPLIT_FEED, 0, 0, 0, 0}, {PD_SPLIT_FEED, 0, 2, 0, 10},
                           {PD_SPLIT_FEED, 0, 0, 0, 20}, {PD_SPLIT_FEED, 0, 1, 0, 50},
                           {PD_SPLIT_FEED, 0, 2, 0, 60}};
    pd_split_map m[2];
    pd_split_map_filaments(fil, 2, trays, NT, cmd, 2, ev, 5, m);
    pd_split_piece p[8];
    size_t n = pd_split_pieces(fil, 2, m, trays, NT, ev, 5, linear(2), 100, p, 8);
    double by[20] = {0};
    for (size_t i = 0; i < n; i++)
        by[p[i].spool_id - 10] += p[i].grams;
    assert_true(by[1] > 49.99 && by[1] < 50.01);
    assert_true(by[2] > 49.99 && by[2] < 50.01);
    assert_true(by[3] > 199.99 && by[3] < 200.01);
}

/* Three PLA colours; the white one runs out and the AMS refills from the white spool of the
 * other unit: only the white filament moves, whatever fed just before the switch. */
static void multi_colour_rollover_goes_to_the_filament_that_ran_out(void **state)
{
    (void)state;
    static const pd_split_tray t3[] = {
        {0, 0, 21, "PLA", "#FF0000FF"}, {0, 2, 22, "PLA", "#FFFFFFFF"},
        {1, 0, 24, "PLA", "#FFFFFFFF"}, {1, 1, 23, "PLA", "#0000FFFF"},
    };
    pd_split_fil fil[3] = {{"PLA", "#FF0000", 100, -1}, {"PLA", "#FFFFFF", 200, -1}, {"PLA", "#0000FF", 300, -1}};
    int cmd[3] = {0x0000, 0x0002, 0x0101};
    /* the white one feeds when its spool runs out at layer 40 (tray_now 255, dropped, then the
     * backup); later the backup is a mapped tray like the others */
    pd_split_event ev[] = {{PD_SPLIT_FEED, 0, 0, 0, 0}, {PD_SPLIT_FEED, 0, 2, 0, 1}, {PD_SPLIT_FEED, 1, 1, 0, 2},
                           {PD_SPLIT_FEED, 0, 0, 0, 10}, {PD_SPLIT_FEED, 0, 2, 0, 39}, {PD_SPLIT_FEED, 1, 0, 0, 40},
                           {PD_SPLIT_FEED, 1, 1, 0, 41}, {PD_SPLIT_FEED, 0, 0, 0, 50}, {PD_SPLIT_FEED, 1, 0, 0, 60}};
    size_t nev = sizeof ev / sizeof *ev;
    for (int round = 0; round < 2; round++) {
        if (round) {
            /* the red one happened to feed last before the switch: the colour still tells */
            ev[4] = (pd_split_event){PD_SPLIT_FEED, 0, 0, 0, 39};
            ev[3] = (pd_split_event){PD_SPLIT_FEED, 0, 2, 0, 10};
        }
        pd_split_map m[3];
        pd_split_map_filaments(fil, 3, t3, 4, cmd, 3, ev, nev, m);
        pd_split_piece p[16];
        size_t n = pd_split_pieces(fil, 3, m, t3, 4, ev, nev, linear(3), 100, p, 16);
        double by[30] = {0};
        for (size_t i = 0; i < n; i++)
            by[p[i].spool_id - 20] += p[i].grams;
        assert_true(by[1] > 99.99 && by[1] < 100.01);
        assert_true(by[2] > 79.99 && by[2] < 80.01);
        assert_true(by[4] > 119.99 && by[4] < 120.01);
        assert_true(by[3] > 299.99 && by[3] < 300.01);
    }
}

/* No mapping (P1S, A1): the two white spools both fed, one after the other: the first is the
 * filament's, the second a refill. Two red filaments on two red spools fed in turn stay asked. */
static void alike_spools_one_after_the_other_are_a_refill(void **state)
{
    (void)state;
    static const pd_split_tray t4[] = {
        {0, 0, 21, "PLA", "#FF0000FF"}, {0, 1, 24, "PLA", "#FFFFFFFF"},
        {0, 2, 22, "PLA", "#FFFFFFFF"}, {0, 3, 23, "PLA", "#0000FFFF"},
    };
    pd_split_fil fil[3] = {{"PLA", "#FF0000", 100, -1}, {"PLA", "#FFFFFF", 200, -1}, {"PLA", "#0000FF", 300, -1}};
    pd_split_event ev[] = {{PD_SPLIT_FEED, 0, 0, 0, 0}, {PD_SPLIT_FEED, 0, 2, 0, 1}, {PD_SPLIT_FEED, 0, 3, 0, 2},
                           {PD_SPLIT_FEED, 0, 2, 0, 39}, {PD_SPLIT_FEED, 0, 1, 0, 40}, {PD_SPLIT_FEED, 0, 3, 0, 41},
                           {PD_SPLIT_FEED, 0, 0, 0, 50}, {PD_SPLIT_FEED, 0, 1, 0, 60}};
    size_t nev = sizeof ev / sizeof *ev;
    pd_split_map m[3];
    pd_split_map_filaments(fil, 3, t4, 4, NULL, 0, ev, nev, m);
    assert_int_equal(m[1].how, PD_MAP_MATCH);
    assert_int_equal(m[1].tray, 2);
    pd_split_piece p[16];
    size_t n = pd_split_pieces(fil, 3, m, t4, 4, ev, nev, linear(3), 100, p, 16);
    double by[30] = {0};
    for (size_t i = 0; i < n; i++)
        by[p[i].spool_id - 20] += p[i].grams;
    assert_true(by[2] > 79.99 && by[2] < 80.01);
    assert_true(by[4] > 119.99 && by[4] < 120.01);
    assert_true(by[1] > 99.99 && by[1] < 100.01);

    pd_split_fil twins[2] = {{"PLA", "#FF0000", 10, -1}, {"PLA", "#FF0000", 20, -1}};
    static const pd_split_tray reds[] = {{0, 2, 31, "PLA", "#FF0000FF"}, {0, 3, 32, "PLA", "#FF0000FF"}};
    pd_split_event turns[] = {{PD_SPLIT_FEED, 0, 2, 0, 0}, {PD_SPLIT_FEED, 0, 3, 0, 1}, {PD_SPLIT_FEED, 0, 2, 0, 2}};
    pd_split_map_filaments(twins, 2, reds, 2, NULL, 0, turns, 3, m);
    assert_int_equal(m[0].how, PD_MAP_AMBIGUOUS);
    assert_int_equal(m[1].how, PD_MAP_AMBIGUOUS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tray_numbers),
        cmocka_unit_test(map_by_mapping_then_tray_now_then_match),
        cmocka_unit_test(two_alike_spools_are_ambiguous_unless_one_fed),
        cmocka_unit_test(rollover_splits_at_the_layer_and_ignores_255),
        cmocka_unit_test(a_failed_print_stops_at_its_layer),
        cmocka_unit_test(a_swap_in_the_same_tray_changes_the_spool),
        cmocka_unit_test(multi_colour_rollover_goes_to_the_filament_of_that_material),
        cmocka_unit_test(multi_colour_rollover_goes_to_the_filament_that_ran_out),
        cmocka_unit_test(alike_spools_one_after_the_other_are_a_refill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

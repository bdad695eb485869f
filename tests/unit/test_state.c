/* state: typed extraction of every model's sample (expected values read from the files),
 * the API JSON, HMS / print_error decoding, and the events of a diff. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "printer/hms.h"
#include "printer/state.h"
#include "samples.h"

static void extract(pd_state *st, const json_t *print, pd_model model)
{
    pd_state_init(st);
    pd_state_extract(st, print, model);
}

static void sample_state(pd_state *st, const char *name, pd_model model)
{
    json_t *base = sample_base(name);
    extract(st, base, model);
    json_decref(base);
}

static void assert_near(double got, double want)
{
    if (fabs(got - want) > 1e-6)
        fail_msg("%g != %g", got, want);
}

static void p1s_idle(void **st_)
{
    (void)st_;
    pd_state st;
    sample_state(&st, "p1s_pushall_idle_1.json", PD_MODEL_P1S);
    assert_string_equal(st.gcode_state, "IDLE");
    assert_int_equal(st.wifi_dbm, -50);
    assert_near(st.nozzle_temp, 29.4375);
    assert_near(st.bed_temp, 29.78125);
    assert_near(st.bed_target, 0);
    assert_true(isnan(st.chamber_temp)); /* P1S sends a constant 5 */
    assert_int_equal(st.fan_part, 0);
    assert_int_equal(st.speed_level, 2);
    assert_int_equal(st.speed_mag, 100);
    assert_int_equal(st.light, 1);
    assert_near(st.nozzle_diameter, 0.4);
    assert_string_equal(st.nozzle_type, "stainless_steel");
    assert_int_equal(st.door_open, -1);
    assert_false(st.sign_required);
    assert_int_equal(st.tray_now, 255);
    assert_int_equal(st.n_ams, 1);
    const pd_ams_unit *u = &st.ams[0];
    assert_int_equal(u->id, 0);
    assert_int_equal(u->humidity, 5);
    assert_int_equal(u->humidity_pct, 17);
    assert_near(u->temp, 30.1);
    assert_int_equal(u->n_trays, 4);
    const pd_tray *t = &u->trays[0];
    assert_true(t->present);
    assert_string_equal(t->type, "PLA");
    assert_string_equal(t->sub_brand, "PLA Basic");
    assert_string_equal(t->color, "#9D432CFF");
    assert_string_equal(t->info_idx, "GFA00");
    assert_string_equal(t->id_name, "A00-N0");
    assert_string_equal(t->tag_uid, "A2E0XXXXXXXXXXXX");
    assert_string_equal(t->uuid, "E455XXXXXXXXXXXXXXXXXXXXXXXXXXXX");
    assert_int_equal(t->remain, 13);
    assert_int_equal(t->tray_weight, 1000);
    assert_int_equal(t->nozzle_min, 190);
    assert_int_equal(t->nozzle_max, 230);
    assert_near(t->k, 0.00999999977648);
    assert_int_equal(u->trays[3].id, 3);
    assert_string_equal(u->trays[3].type, "ABS");
    assert_true(st.has_external);
    assert_int_equal(st.external.id, 254);
    assert_string_equal(st.external.type, "TPU-AMS");
    assert_string_equal(st.external.color, "#FFFFFFFF");
    assert_string_equal(st.external.uuid, "");
    assert_string_equal(st.external.tag_uid, "");
    assert_int_equal(st.n_hms, 0);
    assert_int_equal(st.print_error, 0);
}

static void p1s_deltas_update_state(void **st_)
{
    (void)st_;
    pd_state st;
    json_t *base = sample_base("p1s_pushall_idle_1.json");
    extract(&st, base, PD_MODEL_P1S);
    const char *parts[] = {"p1s_partial_1.json", "p1s_partial_ams_3.json"};
    for (size_t i = 0; i < 2; i++) {
        json_t *msg = sample_load(parts[i]);
        assert_int_equal(pd_report_merge(base, json_object_get(msg, "print"), false), PD_OK);
        pd_state_extract(&st, base, PD_MODEL_P1S);
        json_decref(msg);
    }
    assert_near(st.bed_temp, 29.53125);
    assert_int_equal(st.wifi_dbm, -50);
    assert_int_equal(st.ams[0].humidity_pct, 12);
    assert_near(st.ams[0].temp, 32.9);
    assert_string_equal(st.ams[0].trays[2].color, "#FFFFFFFF");
    assert_string_equal(st.external.type, "TPU-AMS");
    json_decref(base);
}

static void p1p_and_a_series(void **st_)
{
    (void)st_;
    pd_state st;
    sample_state(&st, "p1p_pushall_finish_noams_1.json", PD_MODEL_P1P);
    assert_string_equal(st.gcode_state, "FINISH");
    assert_int_equal(st.layer, 124);
    assert_int_equal(st.total_layers, 124);
    assert_int_equal(st.progress, 100);
    assert_int_equal(st.n_ams, 0);
    assert_int_equal(st.tray_now, 254);
    assert_string_equal(st.external.type, "PETG");
    assert_string_equal(st.external.color, "#BCBCBCFF");
    assert_true(st.external.present);

    sample_state(&st, "p1p_pushall_failed_1.json", PD_MODEL_P1P);
    assert_string_equal(st.gcode_state, "FAILED");
    assert_string_equal(st.subtask, "Fidget Collection");
    assert_int_equal(st.ams[0].humidity, 3);
    assert_int_equal(st.ams[0].humidity_pct, -1); /* no humidity_raw on this firmware */
    assert_int_equal(st.ams[0].trays[0].remain, -1);
    assert_string_equal(st.ams[0].trays[0].uuid, "");
    assert_int_equal(st.tray_now, 0);

    sample_state(&st, "a1_pushall_idle_1.json", PD_MODEL_A1);
    assert_int_equal(st.light, 0);
    assert_int_equal(st.wifi_dbm, -48);
    assert_true(isnan(st.chamber_temp));
    assert_string_equal(st.ams[0].trays[0].color, "#76D9F4FF");

    sample_state(&st, "a1mini_pushall_idle_1.json", PD_MODEL_A1MINI);
    assert_int_equal(st.wifi_dbm, 0); /* "<redacted>" in the capture */
    assert_int_equal(st.ams[0].humidity_pct, -1); /* AMS Lite sends "0" */
    assert_string_equal(st.ams[0].trays[2].color, "#D6ABFF80");
    assert_string_equal(st.ams[0].trays[0].tag_uid, "CAFE10B500000100");

    /* A2L: AMS Lite is unit 16, outside tray_exist_bits; empty slots have no type */
    sample_state(&st, "a2l_pushall_idle_1.json", PD_MODEL_A2L);
    assert_int_equal(st.ams[0].id, 16);
    assert_int_equal(st.ams[0].n_trays, 4);
    assert_false(st.ams[0].trays[0].present);
    assert_true(st.ams[0].trays[1].present);
    assert_string_equal(st.ams[0].trays[1].type, "PETG");
    assert_int_equal(st.ams[0].trays[1].remain, -1);
    assert_true(st.has_external);
    assert_int_equal(st.external.id, 255);
    assert_false(st.external.present);
    assert_string_equal(st.nozzle_type, "HA00");
    assert_true(st.sign_required);
}

static void x1_family(void **st_)
{
    (void)st_;
    pd_state st;
    sample_state(&st, "x1c_pushall_finish_multiams_1.json", PD_MODEL_X1C);
    assert_near(st.chamber_temp, 25); /* no flat chamber_temper: device.ctc */
    assert_int_equal(st.door_open, 0);
    assert_int_equal(st.n_ams, 4);
    assert_int_equal(st.ams[3].id, 128);
    assert_false(st.ams[2].trays[0].present);
    assert_string_equal(st.ams[2].trays[0].type, "");
    assert_string_equal(st.ams[2].trays[1].color, "#FF6A13FF");
    assert_true(st.ams[3].trays[0].present);
    assert_string_equal(st.ams[3].trays[0].type, "PA-CF");
    assert_int_equal(st.external.id, 255);
    assert_string_equal(st.nozzle_type, "HX01");
    assert_true(st.sign_required);

    sample_state(&st, "x1c-x1plus_pushall_running_hms_1.json", PD_MODEL_X1C);
    assert_string_equal(st.gcode_state, "RUNNING");
    assert_int_equal(st.progress, 22);
    assert_int_equal(st.layer, 2);
    assert_int_equal(st.total_layers, 37);
    assert_int_equal(st.remaining_min, 163);
    assert_string_equal(st.gcode_file, "/data/Metadata/plate_2.gcode");
    assert_near(st.chamber_temp, 36);
    assert_near(st.nozzle_target, 220);
    assert_int_equal(st.door_open, 1); /* home_flag 0xE1CDBF has 0x800000 */
    /* fan_gear 0x2DB2FF beats the 0-15 strings */
    assert_int_equal(st.fan_part, 100);
    assert_int_equal(st.fan_aux, 70);
    assert_int_equal(st.fan_chamber, 18);
    assert_int_equal(st.fan_heatbreak, 87);
    assert_int_equal(st.tray_now, 128);
    assert_int_equal(st.n_hms, 1);
    assert_int_equal(st.hms[0].attr, 201327360);
    assert_int_equal(st.hms[0].code, 196615);
    assert_false(st.sign_required); /* no fun on X1Plus */

    /* the same report without a model: no chamber sensor known, no door */
    sample_state(&st, "x1c-x1plus_pushall_running_hms_1.json", PD_MODEL_UNKNOWN);
    assert_true(isnan(st.chamber_temp));
    assert_int_equal(st.door_open, -1);
}

static void h2_family(void **st_)
{
    (void)st_;
    pd_state st;
    sample_state(&st, "h2d_pushall_running_2.json", PD_MODEL_H2D);
    assert_near(st.bed_temp, 100);
    assert_near(st.bed_target, 100);
    assert_near(st.chamber_temp, 49);
    assert_near(st.nozzle_temp, 40);
    assert_int_equal(st.stage, 14);
    assert_int_equal(st.fan_part, 7);
    assert_int_equal(st.fan_heatbreak, 100);
    assert_string_equal(st.nozzle_type, "HS01");
    assert_int_equal(st.door_open, 0);
    assert_true(st.sign_required);
    assert_int_equal(st.n_ams, 2);
    assert_int_equal(st.ams[0].humidity, 4);
    assert_int_equal(st.ams[1].humidity, 0); /* AMS HT sends "0": out of range */
    assert_int_equal(st.ams[1].humidity_pct, 6);
    assert_near(st.ams[1].temp, 27.9);
    assert_true(st.ams[1].trays[0].present);
    assert_int_equal(st.tray_now, 0);
    assert_true(st.has_external);
    assert_int_equal(st.external.id, 255);
    assert_false(st.external.present);
    assert_string_equal(st.external.color, "");

    /* packed words only (newer firmware drops the flat fields) */
    json_t *base = sample_base("h2d_pushall_running_2.json");
    const char *flat[] = {"bed_temper", "bed_target_temper", "chamber_temper", "nozzle_temper",
                          "nozzle_target_temper"};
    for (size_t i = 0; i < 5; i++)
        json_object_del(base, flat[i]);
    extract(&st, base, PD_MODEL_H2D);
    assert_near(st.bed_temp, 100);
    assert_near(st.bed_target, 100);
    assert_near(st.chamber_temp, 48); /* 3932208 = 60 << 16 | 48 */
    assert_near(st.nozzle_target, 225); /* active extruder 0: 14745864 */
    assert_near(st.nozzle_temp, 264);
    /* the left extruder becomes active */
    json_t *msg = sample_load("h2d_fragment_left_extruder_1.json");
    assert_int_equal(pd_report_merge(base, json_object_get(msg, "print"), false), PD_OK);
    json_decref(msg);
    pd_state_extract(&st, base, PD_MODEL_H2D);
    assert_near(st.nozzle_temp, 40);
    json_decref(base);

    /* the door: `stat` on H2, home_flag on the X1 family (fragments from HA's H2D tests) */
    const struct {
        const char *base, *fragment;
        pd_model model;
        int door;
    } doors[] = {
        {"h2d_pushall_idle_1.json", "h2d_fragment_door_opened_1.json", PD_MODEL_H2D, 1},
        {"h2d_pushall_idle_1.json", "h2d_fragment_door_closed_1.json", PD_MODEL_H2D, 0},
        {"x1c_pushall_finish_multiams_1.json", "h2d_fragment_old_door_opened_1.json",
         PD_MODEL_X1C, 1},
        {"x1c_pushall_finish_multiams_1.json", "h2d_fragment_old_door_closed_1.json",
         PD_MODEL_X1C, 0},
    };
    for (size_t i = 0; i < sizeof doors / sizeof doors[0]; i++) {
        base = sample_base(doors[i].base);
        msg = sample_load(doors[i].fragment);
        assert_int_equal(pd_report_merge(base, json_object_get(msg, "print"), false), PD_OK);
        extract(&st, base, doors[i].model);
        assert_int_equal(st.door_open, doors[i].door);
        json_decref(msg);
        json_decref(base);
    }

    sample_state(&st, "h2d_pushall_running_extspool_1.json", PD_MODEL_H2D);
    assert_int_equal(st.n_ams, 6);
    assert_string_equal(st.external.type, "TPU");
    assert_string_equal(st.external.color, "#9B9EA0FF");
    assert_true(st.external.present);
    assert_false(st.ams[0].trays[1].present);
    assert_string_equal(st.ams[3].trays[0].color, "#00000000");

    sample_state(&st, "h2dpro_pushall_idle_1.json", PD_MODEL_H2DPRO);
    assert_near(st.chamber_temp, 23); /* ctc only */
    assert_string_equal(st.nozzle_type, "HS05");
    assert_false(st.sign_required);
    assert_false(st.ams[0].trays[0].present);
    assert_true(st.ams[1].trays[0].present);
    assert_string_equal(st.external.type, "TPU");

    sample_state(&st, "h2s_pushall_running_1.json", PD_MODEL_H2S);
    assert_near(st.chamber_temp, 60);
    assert_near(st.bed_temp, 105);
    assert_int_equal(st.layer, 24);

    sample_state(&st, "h2c_pushall_failed_1.json", PD_MODEL_H2C);
    assert_string_equal(st.gcode_state, "FAILED");
    assert_int_equal(st.stage, -1);
    assert_int_equal(st.total_layers, 332);
    assert_string_equal(st.subtask, "\xe2\x96\xba HEAVY - 55mm With Logo 100% infill");
    assert_near(st.chamber_temp, 35);
    assert_int_equal(st.ams[0].humidity, 1);
    assert_false(st.ams[0].trays[0].present); /* tray_exist_bits 0 while powering on */
}

static void p2s_and_x2d(void **st_)
{
    (void)st_;
    pd_state st;
    sample_state(&st, "p2s_pushall_running_1.json", PD_MODEL_P2S);
    assert_near(st.chamber_temp, 47);
    assert_near(st.nozzle_temp, 254);
    assert_int_equal(st.layer, 170);
    assert_int_equal(st.fan_part, 56); /* fan_gear 142 */
    assert_int_equal(st.ams[0].trays[2].remain, -1);
    assert_string_equal(st.ams[0].trays[2].uuid, "");
    assert_string_equal(st.ams[0].trays[0].tag_uid, "8A41A5A600000100");
    assert_int_equal(st.tray_now, 3);
    assert_int_equal(st.door_open, 0);

    sample_state(&st, "x2d_pushall_running_hms_1.json", PD_MODEL_X2D);
    assert_int_equal(st.progress, 98);
    assert_near(st.chamber_temp, 38);
    assert_int_equal(st.wifi_dbm, -72);
    assert_int_equal(st.fan_part, 73);
    assert_int_equal(st.fan_chamber, 75);
    assert_int_equal(st.n_hms, 1);
    assert_int_equal(st.hms[0].attr, 83887616);
    assert_int_equal(st.hms[0].code, 131184);
}

/* --- which tray feeds ------------------------------------------------------------------- */

/* Merges a partial report (JSON text) into base, as a printer's delta would. */
static void merge(json_t *base, const char *delta)
{
    json_error_t err;
    json_t *d = json_loads(delta, 0, &err);
    if (!d)
        fail_msg("%s: %s", delta, err.text);
    assert_int_equal(pd_report_merge(base, d, false), PD_OK);
    json_decref(d);
}

static void assert_feed(const pd_state *st, int unit, int slot)
{
    if (st->feed.unit != unit || st->feed.slot != slot)
        fail_msg("feeding unit %d slot %d, expected unit %d slot %d", st->feed.unit, st->feed.slot, unit, slot);
}

/* tray_now, the push mapping and the extruders' snow decoded per model, from the captured
 * reports and what those models send mid-print (docs/bambu-protocol.md §4.4) */
static void feeding_per_model(void **st_)
{
    (void)st_;
    pd_state st;

    /* X1C with two AMS, an AMS 2 Pro and an AMS HT: tray_now is the unit's own slot, the
     * mapping ([258]: unit 1 slot 2) names the unit; its extruder's snow says nothing (65535) */
    json_t *base = sample_base("x1c_pushall_finish_multiams_1.json");
    merge(base, "{\"gcode_state\":\"RUNNING\",\"ams\":{\"tray_now\":\"2\"}}");
    extract(&st, base, PD_MODEL_X1C);
    assert_int_equal(st.tray_now, 2);
    assert_feed(&st, 1, 2);
    assert_int_equal(st.n_extruders, 0);
    assert_int_equal(st.extruder, 0);
    /* a rollover to a tray the mapping does not list: the unit with a spool in that slot */
    merge(base, "{\"ams\":{\"tray_now\":\"0\"}}");
    json_object_set_new(base, "mapping", json_pack("[i]", 258));
    json_t *u2 = json_array_get(json_object_get(json_object_get(base, "ams"), "ams"), 2);
    assert_string_equal(json_string_value(json_object_get(u2, "id")), "2");
    pd_state_extract(&st, base, PD_MODEL_X1C);
    assert_feed(&st, 0, 0); /* the first unit with a spool there (unit 2 has none) */
    /* the global numbers, the AMS HT, the external holder, nothing */
    const struct { const char *now; int unit, slot; } plain[] = {
        {"6", 1, 2}, {"128", 128, 0}, {"254", 255, 0}, {"255", -1, -1},
    };
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
        char delta[64];
        snprintf(delta, sizeof delta, "{\"ams\":{\"tray_now\":\"%s\"}}", plain[i].now);
        merge(base, delta);
        pd_state_extract(&st, base, PD_MODEL_X1C);
        assert_feed(&st, plain[i].unit, plain[i].slot);
    }
    json_decref(base);

    /* P2S: the sample feeds from slot 3 of its one AMS; with a second unit mapped, the same
     * tray_now 3 is that unit's, by its snow or, without it, by the mapping */
    base = sample_base("p2s_pushall_running_1.json");
    extract(&st, base, PD_MODEL_P2S);
    assert_feed(&st, 0, 3);
    merge(base, "{\"mapping\":[259,2],\"device\":{\"extruder\":{\"info\":[{\"id\":0,\"snow\":259}]}}}");
    pd_state_extract(&st, base, PD_MODEL_P2S);
    assert_feed(&st, 1, 3);
    merge(base, "{\"device\":{\"extruder\":{\"info\":[{\"id\":0}]}}}");
    pd_state_extract(&st, base, PD_MODEL_P2S);
    assert_feed(&st, 1, 3);
    json_decref(base);

    /* A2L: its AMS Lite is unit 16, tray_now its slot; the mapping says 16 << 8 | 1, and without
     * a mapping the one unit with a spool in slot 1 does */
    base = sample_base("a2l_pushall_idle_1.json");
    merge(base, "{\"gcode_state\":\"RUNNING\",\"ams\":{\"tray_now\":\"1\"},\"mapping\":[4097]}");
    extract(&st, base, PD_MODEL_A2L);
    assert_feed(&st, 16, 1);
    json_object_del(base, "mapping");
    extract(&st, base, PD_MODEL_A2L);
    assert_feed(&st, 16, 1);
    json_decref(base);

    /* H2D: each extruder's snow. The right one feeds from unit 1 slot 3 ([259]) while tray_now
     * says 3; the left one has nothing (65279) */
    base = sample_base("h2d_pushall_running_1.json");
    extract(&st, base, PD_MODEL_H2D);
    assert_int_equal(st.tray_now, 3);
    assert_feed(&st, 1, 3);
    assert_int_equal(st.extruder, 0);
    assert_int_equal(st.n_extruders, 2);
    assert_int_equal(st.extruders[0].id, 0);
    assert_int_equal(st.extruders[0].feed.unit, 1);
    assert_int_equal(st.extruders[0].feed.slot, 3);
    assert_int_equal(st.extruders[1].id, 1);
    assert_int_equal(st.extruders[1].feed.unit, -1);
    /* the left extruder loads the AMS HT and takes over (state 0x112: two, the second active) */
    merge(base, "{\"device\":{\"extruder\":{\"state\":274,\"info\":[{\"id\":0,\"snow\":259},"
                "{\"id\":1,\"snow\":32768}]}}}");
    pd_state_extract(&st, base, PD_MODEL_H2D);
    assert_int_equal(st.extruder, 1);
    assert_feed(&st, 128, 0);
    assert_int_equal(st.extruders[0].feed.unit, 1);
    /* the left (deputy) external holder */
    merge(base, "{\"device\":{\"extruder\":{\"info\":[{\"id\":0,\"snow\":259},{\"id\":1,\"snow\":65024}]}}}");
    pd_state_extract(&st, base, PD_MODEL_H2D);
    assert_feed(&st, 255, 1);
    /* the captured left-extruder fragment: no info of its own, the merged one stays */
    json_t *msg = sample_load("h2d_fragment_left_extruder_1.json");
    assert_int_equal(pd_report_merge(base, json_object_get(msg, "print"), false), PD_OK);
    json_decref(msg);
    pd_state_extract(&st, base, PD_MODEL_H2D);
    assert_feed(&st, 255, 1);
    json_decref(base);
    sample_state(&st, "h2d_pushall_running_2.json", PD_MODEL_H2D);
    assert_feed(&st, 128, 0); /* tray_now 0, snow 32768 */
    sample_state(&st, "h2d_pushall_running_extspool_1.json", PD_MODEL_H2D);
    assert_feed(&st, 255, 0); /* tray_now 0, snow 65280 */
    sample_state(&st, "x2d_pushall_running_hms_1.json", PD_MODEL_X2D);
    assert_int_equal(st.extruder, 1); /* state 0x8112 */
    assert_feed(&st, 0, 1);
    sample_state(&st, "h2dpro_pushall_idle_1.json", PD_MODEL_H2DPRO);
    assert_feed(&st, -1, -1);

    /* H2S: tray_now names the idle AMS slot while the external spool feeds */
    base = sample_base("h2s_pushall_running_1.json");
    extract(&st, base, PD_MODEL_H2S);
    assert_feed(&st, 0, 0);
    merge(base, "{\"mapping\":[65280],\"device\":{\"extruder\":{\"info\":[{\"id\":0,\"snow\":65280}]}}}");
    pd_state_extract(&st, base, PD_MODEL_H2S);
    assert_int_equal(st.tray_now, 0);
    assert_feed(&st, 255, 0);
    merge(base, "{\"device\":{\"extruder\":{\"info\":[{\"id\":0}]}}}");
    pd_state_extract(&st, base, PD_MODEL_H2S);
    assert_feed(&st, 255, 0); /* by the mapping alone */
    extract(&st, base, PD_MODEL_P2S);
    assert_feed(&st, 0, 0);   /* a model without that habit: the AMS slot */
    json_decref(base);

    /* models that number trays globally and send no mapping */
    sample_state(&st, "p1p_pushall_failed_1.json", PD_MODEL_P1P);
    assert_feed(&st, 0, 0);
    sample_state(&st, "p1p_pushall_finish_noams_1.json", PD_MODEL_P1P);
    assert_feed(&st, 255, 0);
    sample_state(&st, "x1c-x1plus_pushall_running_hms_1.json", PD_MODEL_X1C);
    assert_feed(&st, 128, 0);
    sample_state(&st, "p1s_pushall_idle_1.json", PD_MODEL_P1S);
    assert_feed(&st, -1, -1);
}

/* --- API JSON ------------------------------------------------------------------------- */

/* The members as the API writes them, read back with jansson: what a client sees */
static json_t *state_json(const pd_state *st, pd_model model)
{
    pd_jw w;
    pd_jw_init(&w, 1 << 20);
    pd_jw_open(&w, '{');
    pd_state_write_json(st, model, &w);
    pd_jw_close(&w, '}');
    char *text = pd_jw_finish(&w, NULL);
    assert_non_null(text);
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    if (!o)
        fail_msg("not JSON (%s): %s", err.text, text);
    free(text);
    return o;
}

static void json_members(void **st_)
{
    (void)st_;
    pd_state st;
    sample_state(&st, "p1s_pushall_idle_1.json", PD_MODEL_P1S);
    json_t *o = state_json(&st, PD_MODEL_P1S);
    const char *keys[] = {"state", "stage", "progress", "layer", "total_layers",
                          "remaining_min", "subtask", "gcode_file", "nozzle_temp",
                          "nozzle_target", "bed_temp", "bed_target", "chamber_temp", "fans",
                          "speed_level", "speed_mag", "wifi_dbm", "light", "door_open",
                          "nozzle", "ams", "tray_now", "extruders", "feeding", "external", "hms",
                          "print_error",
                          "sign_required"};
    assert_int_equal(json_object_size(o), sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_object_get(o, keys[i]))
            fail_msg("missing %s", keys[i]);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "IDLE");
    assert_true(json_is_null(json_object_get(o, "chamber_temp")));
    assert_true(json_is_null(json_object_get(o, "subtask")));
    assert_true(json_is_null(json_object_get(o, "door_open")));
    assert_true(json_is_null(json_object_get(o, "print_error")));
    assert_string_equal(json_string_value(json_object_get(o, "light")), "on");
    assert_int_equal(json_integer_value(json_object_get(o, "wifi_dbm")), -50);
    json_t *feeding = json_object_get(o, "feeding");
    assert_int_equal(json_object_size(feeding), 3);
    assert_true(json_is_null(json_object_get(feeding, "unit")));
    assert_int_equal(json_integer_value(json_object_get(feeding, "extruder")), 0);
    assert_int_equal(json_array_size(json_object_get(o, "extruders")), 0);
    json_t *tray = json_array_get(json_object_get(json_array_get(json_object_get(o, "ams"), 0),
                                                  "trays"), 0);
    const char *tray_keys[] = {"id", "present", "type", "sub_brand", "color", "remain", "uuid",
                               "tag_uid", "tray_weight", "diameter", "bbl", "nozzle_min",
                               "nozzle_max", "k", "info_idx", "id_name"};
    assert_int_equal(json_object_size(tray), sizeof tray_keys / sizeof tray_keys[0]);
    for (size_t i = 0; i < sizeof tray_keys / sizeof tray_keys[0]; i++)
        if (!json_object_get(tray, tray_keys[i]))
            fail_msg("tray lacks %s", tray_keys[i]);
    assert_string_equal(json_string_value(json_object_get(tray, "color")), "#9D432CFF");
    /* tray_is_bbl_bits marks the Bambu spool; the external holder has no bit for it */
    assert_int_equal(json_integer_value(json_object_get(tray, "bbl")), 1);
    assert_true(json_real_value(json_object_get(tray, "diameter")) == 1.75);
    json_t *ext = json_object_get(o, "external");
    assert_true(json_is_null(json_object_get(ext, "uuid")));
    assert_true(json_is_null(json_object_get(ext, "tag_uid")));
    assert_int_equal(json_integer_value(json_object_get(ext, "id")), 254);
    assert_true(json_is_null(json_object_get(ext, "bbl")));
    json_decref(o);

    /* a state that knows nothing serialises to nulls, not to garbage */
    pd_state_init(&st);
    o = state_json(&st, PD_MODEL_UNKNOWN);
    assert_true(json_is_null(json_object_get(o, "state")));
    assert_true(json_is_null(json_object_get(o, "nozzle_temp")));
    assert_true(json_is_null(json_object_get(json_object_get(o, "fans"), "part")));
    assert_true(json_is_null(json_object_get(o, "external")));
    assert_int_equal(json_array_size(json_object_get(o, "ams")), 0);
    json_decref(o);
}

static void hms_in_json(void **st_)
{
    (void)st_;
    pd_state st;
    sample_state(&st, "x1c-x1plus_pushall_running_hms_1.json", PD_MODEL_X1C);
    json_t *o = state_json(&st, PD_MODEL_X1C);
    json_t *h = json_array_get(json_object_get(o, "hms"), 0);
    assert_string_equal(json_string_value(json_object_get(h, "code")), "HMS_0C00_0300_0003_0007");
    assert_string_equal(json_string_value(json_object_get(h, "text")),
                        "Possible first layer defects have been detected. Please check the first "
                        "layer quality and decide if the job should be stopped.");
    assert_int_equal(json_integer_value(json_object_get(h, "severity")), 3);
    assert_int_equal(json_integer_value(json_object_get(h, "attr")), 201327360);
    assert_string_equal(json_string_value(json_object_get(h, "url")),
                        "https://wiki.bambulab.com/en/x1/troubleshooting/hmscode/0C00_0300_0003_0007");
    json_decref(o);

    sample_state(&st, "x2d_pushall_running_hms_1.json", PD_MODEL_X2D);
    o = state_json(&st, PD_MODEL_X2D);
    h = json_array_get(json_object_get(o, "hms"), 0);
    assert_string_equal(json_string_value(json_object_get(h, "code")), "HMS_0500_0600_0002_0070");
    assert_true(json_is_null(json_object_get(h, "text")));
    assert_int_equal(json_integer_value(json_object_get(h, "severity")), 2);
    const char *url = json_string_value(json_object_get(h, "url"));
    assert_non_null(url);
    assert_true(!strncmp(url, "https://wiki.bambulab.com/en/", 29));
    assert_non_null(strstr(url, "0500_0600_0002_0070"));
    json_decref(o);

    /* print_error 0x0300400C, the user's cancel */
    json_t *base = sample_base("p1s_pushall_idle_1.json");
    json_object_set_new(base, "print_error", json_integer(50348044));
    extract(&st, base, PD_MODEL_P1S);
    o = state_json(&st, PD_MODEL_P1S);
    json_t *pe = json_object_get(o, "print_error");
    assert_string_equal(json_string_value(json_object_get(pe, "code")), "0300_400C");
    assert_int_equal(json_integer_value(json_object_get(pe, "value")), 50348044);
    assert_string_equal(json_string_value(json_object_get(pe, "text")), "The task was canceled.");
    json_decref(o);
    json_decref(base);
}

static void hms_tables(void **st_)
{
    (void)st_;
    char buf[256];
    pd_hms_format(50331904, 65543, buf);
    assert_string_equal(buf, "HMS_0300_0100_0001_0007");
    pd_print_error_format(0x0500C010, buf);
    assert_string_equal(buf, "0500_C010");
    assert_int_equal(pd_hms_severity(0x00010007), 1);
    assert_int_equal(pd_hms_severity(0x00040007), 4);
    assert_int_equal(pd_hms_severity(0x00050007), 0);
    /* model-specific text first, then the one for every model */
    assert_string_equal(pd_print_error_text(0x0500C010, PD_MODEL_H2D),
                        "USB flash drive read-write exception; please reinsert or replace it.");
    assert_string_equal(pd_print_error_text(0x0500C010, PD_MODEL_P1S),
                        "MicroSD Card read/write exception: please reinsert or replace the "
                        "MicroSD Card.");
    assert_null(pd_print_error_text(0xDEADBEEF, PD_MODEL_P1S));
    assert_non_null(pd_hms_text(0x03000100, 0x00010001, PD_MODEL_UNKNOWN));
    assert_null(pd_hms_text(0x05000600, 0x00020070, PD_MODEL_X2D));
    /* wiki: the model's page, the generic one, or the family pattern */
    pd_hms_url(0x03000100, 0x00010007, PD_MODEL_H2D, buf, sizeof buf);
    assert_string_equal(buf, "https://wiki.bambulab.com/en/h2/troubleshooting/hmscode/0300_0100_0001_0007");
    pd_hms_url(0x03000100, 0x00010007, PD_MODEL_H2DPRO, buf, sizeof buf);
    assert_string_equal(buf, "https://wiki.bambulab.com/en/h2/troubleshooting/hmscode/0300_0100_0001_0007");
    pd_hms_url(0x03000100, 0x00010007, PD_MODEL_P1S, buf, sizeof buf);
    assert_string_equal(buf, "https://wiki.bambulab.com/en/x1/troubleshooting/hmscode/0300_0100_0001_0007");
    pd_hms_url(0x12345678, 0x9ABCDEF0, PD_MODEL_A1MINI, buf, sizeof buf);
    assert_string_equal(buf, "https://wiki.bambulab.com/en/a1/troubleshooting/hmscode/1234_5678_9ABC_DEF0");
    pd_hms_url(0x12345678, 0x9ABCDEF0, PD_MODEL_UNKNOWN, buf, 20);
    assert_int_equal(strlen(buf), 19);
}

/* --- diff ----------------------------------------------------------------------------- */

typedef struct seen {
    int n[11];           /* by bit index of the event type */
    char from[16], to[16];
    int layer;
    int trays[16][2];
    int n_trays;
    char hms_code[24];
    int hms_text;
} seen;

static void on_event(const pd_event *ev, void *ud)
{
    seen *s = ud;
    assert_int_equal(ev->printer_id, 7);
    assert_string_equal(ev->serial, "01P00A000000001");
    for (int i = 0; i < 11; i++)
        if (ev->type == 1u << i)
            s->n[i]++;
    switch (ev->type) {
    case PD_EV_JOB_PHASE:
        snprintf(s->from, sizeof s->from, "%s", ev->u.phase.from);
        snprintf(s->to, sizeof s->to, "%s", ev->u.phase.to);
        break;
    case PD_EV_LAYER:
        s->layer = ev->u.layer.layer;
        break;
    case PD_EV_TRAY:
        if (s->n_trays < 16) {
            s->trays[s->n_trays][0] = ev->u.tray.ams_id;
            s->trays[s->n_trays++][1] = ev->u.tray.tray_id;
        }
        break;
    case PD_EV_HMS_RAISED:
    case PD_EV_HMS_CLEARED:
        snprintf(s->hms_code, sizeof s->hms_code, "%s", ev->u.hms.code);
        s->hms_text = ev->u.hms.text != NULL;
        break;
    default:
        fail_msg("unexpected event %d", ev->type);
    }
}

#define N(s, ev) ((s).n[__builtin_ctz(ev)])

static void diff_events(void **st_)
{
    (void)st_;
    pd_bus *bus = pd_bus_new();
    seen s = {0};
    assert_true(pd_bus_subscribe(bus, PD_EV_ALL, on_event, &s) > 0);
    pd_event base = {.printer_id = 7, .serial = "01P00A000000001", .ts_ms = 1};
    pd_state a, b;

    sample_state(&a, "p1s_pushall_idle_1.json", PD_MODEL_P1S);
    b = a;
    assert_false(pd_state_diff(&a, &b, PD_MODEL_P1S, bus, &base)); /* NAN chamber on both */
    assert_int_equal(N(s, PD_EV_JOB_PHASE) + N(s, PD_EV_TRAY) + N(s, PD_EV_LAYER), 0);
    b.wifi_dbm = -70;
    assert_true(pd_state_diff(&a, &b, PD_MODEL_P1S, bus, &base));
    assert_int_equal(N(s, PD_EV_TRAY), 0);

    /* IDLE -> FINISH with other spools everywhere and the external holder emptied */
    sample_state(&b, "p1s_pushall_finish_1.json", PD_MODEL_P1S);
    assert_true(pd_state_diff(&a, &b, PD_MODEL_P1S, bus, &base));
    assert_int_equal(N(s, PD_EV_JOB_PHASE), 1);
    assert_string_equal(s.from, "IDLE");
    assert_string_equal(s.to, "FINISH");
    assert_int_equal(N(s, PD_EV_LAYER), 1);
    assert_int_equal(s.layer, 260);
    assert_int_equal(N(s, PD_EV_TRAY), 5);
    assert_int_equal(s.trays[4][0], 255);
    assert_int_equal(s.trays[4][1], 254);

    /* an alert appears, then goes away */
    pd_state h;
    sample_state(&h, "x1c-x1plus_pushall_running_hms_1.json", PD_MODEL_X1C);
    b = h;
    b.n_hms = 0;
    memset(&s, 0, sizeof s);
    assert_true(pd_state_diff(&b, &h, PD_MODEL_X1C, bus, &base));
    assert_int_equal(N(s, PD_EV_HMS_RAISED), 1);
    assert_string_equal(s.hms_code, "HMS_0C00_0300_0003_0007");
    assert_true(s.hms_text);
    assert_true(pd_state_diff(&h, &b, PD_MODEL_X1C, bus, &base));
    assert_int_equal(N(s, PD_EV_HMS_CLEARED), 1);
    assert_int_equal(N(s, PD_EV_JOB_PHASE) + N(s, PD_EV_TRAY), 0);

    /* an AMS unit unplugged: each of its spools reports */
    sample_state(&a, "x1c_pushall_finish_multiams_1.json", PD_MODEL_X1C);
    b = a;
    b.n_ams = 1;
    memset(&s, 0, sizeof s);
    assert_true(pd_state_diff(&a, &b, PD_MODEL_X1C, bus, &base));
    assert_int_equal(N(s, PD_EV_TRAY), 8); /* unit 1: 4, unit 2: 3 (slot 0 empty), HT: 1 */

    /* a field without its own event still counts as a change, a NAN to a number too */
    b = a;
    b.ams[0].trays[0].k = 0.5;
    memset(&s, 0, sizeof s);
    assert_true(pd_state_diff(&a, &b, PD_MODEL_X1C, NULL, &base));
    b = a;
    b.chamber_temp = NAN;
    assert_true(pd_state_diff(&a, &b, PD_MODEL_X1C, bus, NULL));
    assert_int_equal(N(s, PD_EV_TRAY), 0);
    pd_bus_free(&bus);
}

/* --- every row of the field tables -------------------------------------------------------
 * Each field in turn is changed in a copy of a full state: the diff must see it (with the
 * field's own event, if it has one) and the API JSON must show it. The walk follows the tables
 * themselves, so a new row is covered without touching this test. */

typedef struct field_walk {
    pd_bus *bus;
    seen *s;
    const pd_state *base;
    char *json;          /* the base's API JSON */
    int fields, lists;
} field_walk;

static char *render_text(const pd_state *st)
{
    pd_jw w;
    pd_jw_init(&w, 1 << 20);
    pd_jw_open(&w, '{');
    pd_state_write_json(st, PD_MODEL_X1C, &w);
    pd_jw_close(&w, '}');
    char *text = pd_jw_finish(&w, NULL);
    assert_non_null(text);
    return text;
}

/* Another value of the same kind, one the API shows differently. */
static void mutate(const pd_state_field *f, char *p)
{
    switch (f->kind) {
    case PD_SK_INT: *(int *)p = *(int *)p == 1 ? 0 : 1; break;
    case PD_SK_REAL: *(double *)p = isnan(*(double *)p) ? 1 : *(double *)p + 1; break;
    case PD_SK_TEXT:
        if (!*p)
            p[1] = '\0';
        p[0] = p[0] == 'x' ? 'y' : 'x';
        break;
    case PD_SK_BOOL: *(bool *)p = !*(bool *)p; break;
    case PD_SK_U32: *(uint32_t *)p += 1; break;
    default: fail_msg("%s: not a scalar", f->key);
    }
}

static int events_seen(const seen *s)
{
    int n = 0;
    for (int i = 0; i < 11; i++)
        n += s->n[i];
    return n;
}

/* The base against `cur`, both ways: changed, and JSON that differs. */
static void expect_change(field_walk *fw, const pd_state *cur, const char *what)
{
    pd_event base = {.printer_id = 7, .serial = "01P00A000000001", .ts_ms = 1};
    char *text = render_text(cur);
    if (!strcmp(text, fw->json))
        fail_msg("%s: the API JSON did not change", what);
    free(text);
    if (!pd_state_diff(cur, fw->base, PD_MODEL_X1C, NULL, &base))
        fail_msg("%s: the diff back missed it", what);
    memset(fw->s, 0, sizeof *fw->s);
    if (!pd_state_diff(fw->base, cur, PD_MODEL_X1C, fw->bus, &base))
        fail_msg("%s: the diff missed it", what);
}

static void walk_table(field_walk *fw, const pd_state_table *t, size_t at)
{
    for (size_t i = 0; i < t->n; i++) {
        const pd_state_field *f = &t->rows[i];
        const char *rec = (const char *)fw->base + at;
        pd_state cur = *fw->base;
        char *p = (char *)&cur + at;
        switch (f->kind) {
        case PD_SK_DERIVED:
            continue;
        case PD_SK_GROUP:
            walk_table(fw, f->sub, at);
            continue;
        case PD_SK_LIST:
            if (*(const int *)(rec + f->count_off) < 1)
                fail_msg("%s: the sample has none to change", f->key);
            (*(int *)(p + f->count_off))--;
            expect_change(fw, &cur, f->key);
            fw->lists++;
            walk_table(fw, f->sub, at + f->off);
            continue;
        case PD_SK_RECORD:
            if (!*(const bool *)(rec + f->count_off))
                fail_msg("%s: the sample has none to change", f->key);
            *(bool *)(p + f->count_off) = false;
            expect_change(fw, &cur, f->key);
            fw->lists++;
            walk_table(fw, f->sub, at + f->off);
            continue;
        default:
            break;
        }
        if (f->metric && (f->kind == PD_SK_TEXT || !f->help))
            fail_msg("%s: a metric needs a number and its help", f->key);
        mutate(f, p + f->off);
        expect_change(fw, &cur, f->key);
        fw->fields++;
        if (t == &pd_state_hms_fields) {
            /* alerts are a set: the changed one is a new alert, the old one went away */
            assert_int_equal(N(*fw->s, PD_EV_HMS_RAISED), 1);
            assert_int_equal(N(*fw->s, PD_EV_HMS_CLEARED), 1);
        } else if (f->event) {
            if (N(*fw->s, f->event) != 1)
                fail_msg("%s: %d events %#x", f->key, N(*fw->s, f->event), f->event);
            if (f->event == PD_EV_JOB_PHASE)
                assert_string_equal(fw->s->to, cur.gcode_state);
            if (f->event == PD_EV_LAYER)
                assert_int_equal(fw->s->layer, cur.layer);
        } else if (strcmp(f->key, "id") && events_seen(fw->s)) {
            /* an id change moves the record, which may report its spool; nothing else may */
            fail_msg("%s: unexpected events", f->key);
        }
    }
}

static void every_field_diffed(void **st_)
{
    (void)st_;
    pd_bus *bus = pd_bus_new();
    seen s = {0};
    assert_true(pd_bus_subscribe(bus, PD_EV_ALL, on_event, &s) > 0);
    pd_state st;
    sample_state(&st, "x1c-x1plus_pushall_running_hms_1.json", PD_MODEL_X1C);
    /* a single-nozzle printer has no extruder list: two, as a dual-nozzle one has them */
    st.n_extruders = 2;
    st.extruders[0] = (pd_extruder){0, {1, 3}};
    st.extruders[1] = (pd_extruder){1, {-1, -1}};
    field_walk fw = {bus, &s, &st, render_text(&st), 0, 0};
    walk_table(&fw, &pd_state_fields, 0);
    /* the units, their trays, the extruders, the external holder and the alerts were all reached */
    assert_int_equal(fw.lists, 5);
    assert_true(fw.fields >= 61); /* today's rows; more is fine */
    free(fw.json);
    pd_bus_free(&bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(p1s_idle),
        cmocka_unit_test(p1s_deltas_update_state),
        cmocka_unit_test(p1p_and_a_series),
        cmocka_unit_test(x1_family),
        cmocka_unit_test(h2_family),
        cmocka_unit_test(p2s_and_x2d),
        cmocka_unit_test(feeding_per_model),
        cmocka_unit_test(json_members),
        cmocka_unit_test(hms_in_json),
        cmocka_unit_test(hms_tables),
        cmocka_unit_test(diff_events),
        cmocka_unit_test(every_field_diffed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

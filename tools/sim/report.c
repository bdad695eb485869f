/* The JSON a simulated printer sends, shaped like the real captures in
 * tests/fixtures/samples: the same key names and wire types (numbers as strings where the
 * firmware sends strings). A full report is the static keys of the model's firmware family
 * (a table of JSON literals) plus every dynamic group; a partial report is only the groups
 * that changed, built by the same functions, so the two shapes cannot drift apart. */
#include "sim.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

/* ---- static keys ---------------------------------------------------------------------- */

typedef struct sim_static {
    const char *key;
    unsigned need, deny; /* model flags that must be set / must not be set */
    const char *json;
} sim_static;

static const sim_static sim_statics[] = {
    {"ams_rfid_status", 0, 0, "0"},
    {"cali_version", 0, 0, "0"},
    {"force_upgrade", 0, 0, "false"},
    {"mc_print_sub_stage", 0, 0, "0"},
    {"nozzle_diameter", 0, 0, "\"0.4\""},
    {"queue_est", 0, 0, "0"},
    {"queue_number", 0, 0, "0"},
    {"queue_sts", 0, 0, "0"},
    {"queue_total", 0, 0, "0"},
    {"s_obj", 0, 0, "[]"},
    {"sdcard", 0, 0, "true"},
    /* the printer's own address, little-endian u32 (docs/bambu-protocol.md §4.3): 127.0.0.1/24 */
    {"net", 0, 0, "{\"conf\":16,\"info\":[{\"ip\":16777343,\"mask\":16777215},{\"ip\":0,\"mask\":0}]}"},

    /* P1/A1 firmware */
    {"chamber_temper", 0, SIM_F_MODERN, "5"}, /* no sensor: a constant 5 */
    {"filam_bak", 0, SIM_F_MODERN, "[]"},
    {"flag3", 0, SIM_F_MODERN, "90767"},
    {"home_flag", 0, SIM_F_MODERN, "6505880"},
    {"k", 0, SIM_F_MODERN, "\"0.0200\""},
    {"lifecycle", 0, SIM_F_MODERN, "\"product\""},
    {"mess_production_state", 0, SIM_F_MODERN, "\"active\""},
    {"online", 0, SIM_F_MODERN, "{\"ahb\":false,\"rfid\":false,\"version\":1795801617}"},
    {"upload", 0, SIM_F_MODERN, "{\"message\":\"\",\"progress\":0,\"status\":\"idle\"}"},
    {"upgrade_state", 0, SIM_F_MODERN,
     "{\"consistency_request\":false,\"cur_state_code\":0,\"dis_state\":0,\"err_code\":0,"
     "\"force_upgrade\":false,\"idx2\":2387915713,\"message\":\"0%, 0B/s\",\"module\":\"\","
     "\"new_ver_list\":[],\"new_version_state\":2,\"progress\":\"\",\"sequence_id\":0,\"status\":\"IDLE\"}"},

    /* X1 (fw 01.09+), P2S, H2 firmware */
    {"ap_err", SIM_F_MODERN, 0, "0"},
    {"aux", SIM_F_MODERN, 0, "\"280100C\""},
    {"aux_part_fan", SIM_F_MODERN, 0, "true"},
    {"batch_id", SIM_F_MODERN, 0, "0"},
    {"canvas_id", SIM_F_MODERN, 0, "0"},
    {"care", SIM_F_MODERN, 0, "[{\"id\":\"cr\",\"info\":\"20631064\"},{\"id\":\"ls\",\"info\":\"247991B\"}]"},
    {"cfg", SIM_F_MODERN, 0, "\"FB299\""},
    {"design_id", SIM_F_MODERN, 0, "\"0\""},
    {"err", SIM_F_MODERN, 0, "\"0\""},
    {"fail_reason", SIM_F_MODERN, 0, "\"0\""},
    {"home_flag", SIM_F_MODERN, 0, "-1067070064"},
    {"job_attr", SIM_F_MODERN, 0, "3"},
    {"job_id", SIM_F_MODERN, 0, "\"0\""},
    {"mc_action", SIM_F_MODERN, 0, "255"},
    {"mc_err", SIM_F_MODERN, 0, "0"},
    {"mc_print_error_code", SIM_F_MODERN, 0, "\"0\""},
    {"model_id", SIM_F_MODERN, 0, "\"\""},
    {"plate_cnt", SIM_F_MODERN, 0, "1"},
    {"plate_id", SIM_F_MODERN, 0, "1"},
    {"plate_idx", SIM_F_MODERN, 0, "1"},
    {"print_gcode_action", SIM_F_MODERN, 0, "0"},
    {"print_real_action", SIM_F_MODERN, 0, "0"},
    {"queue", SIM_F_MODERN, 0, "0"},
    {"stat", SIM_F_MODERN, 0, "\"7A58000\""},
    {"state", SIM_F_MODERN, 0, "4"},
    {"ver", SIM_F_MODERN, 0, "\"20010\""},
    {"xcam_status", SIM_F_MODERN, 0, "\"0\""},
    {"online", SIM_F_MODERN, 0, "{\"ahb\":true,\"version\":10}"},
    {"job", SIM_F_MODERN, 0,
     "{\"cur_stage\":{\"idx\":0,\"state\":0},\"stage\":[{\"clock_in\":false,\"color\":[\"\"],"
     "\"diameter\":[0.4000000059604645],\"est_time\":0,\"heigh\":0.0,\"idx\":0,\"platform\":\"\","
     "\"print_then\":false,\"proc_list\":[],\"tool\":[\"HS01\"],\"type\":2}]}"},
    {"upload", SIM_F_MODERN, 0,
     "{\"file_size\":0,\"finish_size\":0,\"message\":\"Good\",\"oss_url\":\"\",\"progress\":0,"
     "\"sequence_id\":\"0903\",\"speed\":0,\"status\":\"idle\",\"task_id\":\"\",\"time_remaining\":0,"
     "\"trouble_id\":\"\"}"},
    {"upgrade_state", SIM_F_MODERN, 0,
     "{\"ahb_new_version_number\":\"\",\"ams_new_version_number\":\"\",\"consistency_request\":false,"
     "\"dis_state\":0,\"err_code\":0,\"ext_new_version_number\":\"\",\"force_upgrade\":false,\"idx\":6,"
     "\"idx2\":1929307258,\"lower_limit\":\"00.00.00.00\",\"message\":\"\",\"module\":\"\","
     "\"new_version_state\":2,\"ota_new_version_number\":\"\",\"progress\":\"0\",\"sequence_id\":0,"
     "\"sn\":\"\",\"status\":\"IDLE\"}"},
    {"device", SIM_F_MODERN, 0,
     "{\"airduct\":{\"modeCur\":0,\"modeFunc\":0,\"modeList\":[{\"ctrl\":[16,32,160],\"modeId\":0,"
     "\"off\":[]},{\"ctrl\":[16,32],\"modeId\":1,\"off\":[160]}],\"parts\":[{\"func\":0,\"id\":16,"
     "\"range\":6553600,\"state\":0},{\"func\":6,\"id\":32,\"range\":6553600,\"state\":0}],"
     "\"subFunc\":0,\"subMode\":0,\"version\":1},\"cam\":{\"laser\":{\"cond\":252,\"state\":0}},"
     "\"ext_tool\":{\"calib\":2,\"low_prec\":true,\"mount\":0,\"th_temp\":0,\"type\":\"\"},"
     "\"laser\":{\"power\":0},\"plate\":{\"base\":1,\"cali2d_id\":\"\",\"cur_id\":\"\",\"mat\":1,"
     "\"tar_id\":\"\"},\"type\":1}"},

    {"ipcam", 0, SIM_F_RTSP,
     "{\"ipcam_dev\":\"1\",\"ipcam_record\":\"disable\",\"mode_bits\":3,\"resolution\":\"1080p\","
     "\"timelapse\":\"disable\",\"tutk_server\":\"disable\"}"},
    {"ipcam", SIM_F_RTSP, 0,
     "{\"agora_service\":\"disable\",\"brtc_service\":\"enable\",\"bs_state\":0,\"ipcam_dev\":\"1\","
     "\"ipcam_record\":\"enable\",\"laser_preview_res\":7,\"mode_bits\":2,\"resolution\":\"1080p\","
     "\"rtsp_url\":\"rtsps://127.0.0.1:322/streaming/live/1\",\"timelapse\":\"disable\","
     "\"tl_store_hpd_type\":2,\"tl_store_path_type\":2,\"tutk_server\":\"disable\"}"},
    {"xcam", SIM_F_XCAM_AI, 0,
     "{\"allow_skip_parts\":false,\"buildplate_marker_detector\":true,\"first_layer_inspector\":true,"
     "\"halt_print_sensitivity\":\"medium\",\"print_halt\":true,\"printing_monitor\":true,"
     "\"spaghetti_detector\":true}"},
    {"xcam", SIM_F_XCAM_PLATE, 0, "{\"buildplate_marker_detector\":true}"},
};
#define SIM_N(a) (sizeof(a) / sizeof((a)[0]))

static json_t *sim_static_values[SIM_N(sim_statics)];

int sim_report_init(void)
{
    for (size_t i = 0; i < SIM_N(sim_statics); i++) {
        json_error_t err;
        sim_static_values[i] = json_loads(sim_statics[i].json, JSON_DECODE_ANY, &err);
        if (!sim_static_values[i]) {
            fprintf(stderr, "printdeck-sim: bad template for %s: %s\n", sim_statics[i].key, err.text);
            sim_report_cleanup();
            return -1;
        }
    }
    return 0;
}

void sim_report_cleanup(void)
{
    for (size_t i = 0; i < SIM_N(sim_statics); i++) {
        json_decref(sim_static_values[i]);
        sim_static_values[i] = NULL;
    }
}

/* ---- small builders ------------------------------------------------------------------ */

static bool sim_modern(const sim_printer *p)
{
    return p->model->flags & SIM_F_MODERN;
}

/* get-or-create, so a builder can add into an object another builder or a template made */
static json_t *sim_obj(json_t *parent, const char *key)
{
    json_t *o = json_object_get(parent, key);
    if (json_is_object(o))
        return o;
    o = json_object();
    json_object_set_new(parent, key, o);
    return o;
}

static void sim_put_str(json_t *o, const char *key, const char *v)
{
    json_object_set_new(o, key, json_string(v));
}

static void sim_put_int(json_t *o, const char *key, json_int_t v)
{
    json_object_set_new(o, key, json_integer(v));
}

/* for the many numbers the firmware sends as strings */
__attribute__((format(printf, 3, 4))) static void sim_put_fmt(json_t *o, const char *key, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sim_put_str(o, key, buf);
}

/* P1/A1 send temperatures in 1/32 °C steps and integral ones as JSON integers (the P1S
 * partial samples alternate 11.96875 and 12); the newer firmware sends whole-degree reals. */
static void sim_put_temp(const sim_printer *p, json_t *o, const char *key, double v)
{
    if (sim_modern(p)) {
        json_object_set_new(o, key, json_real(round(v)));
        return;
    }
    double q = round(v * 32.0) / 32.0;
    json_object_set_new(o, key, q == floor(q) ? json_integer((json_int_t)q) : json_real(q));
}

/* device.*.temp packs target << 16 | current (docs/bambu-protocol.md §4.2) */
static json_int_t sim_packed(double target, double current)
{
    long t = lround(fmax(0, fmin(target, 65535))), c = lround(fmax(0, fmin(current, 65535)));
    return (json_int_t)((t << 16) | c);
}

/* the extruder's "snow": ams_id << 8 | slot, 0xFF00 external, 0xFFFF nothing */
static int sim_snow(int tray)
{
    if (tray == SIM_TRAY_NONE)
        return 0xFFFF;
    if (tray == SIM_TRAY_EXT)
        return 0xFF00;
    return ((tray / 4) << 8) | (tray % 4);
}

static json_t *sim_tray_json(const sim_printer *p, const sim_tray *t, const char *id, bool compact_empty)
{
    json_t *o = json_object();
    sim_put_str(o, "id", id);
    if (!t->present && compact_empty) {
        /* an empty AMS slot is just {"id","state":0} on the newer firmware */
        if (p->model->tray_state)
            sim_put_int(o, "state", 0);
        return o;
    }
    const sim_material *m = t->present ? t->mat : NULL;
    const sim_colour *c = sim_colour_find(t->colour);
    bool rfid = t->present && t->rfid;
    sim_put_str(o, "bed_temp", "0");
    sim_put_str(o, "bed_temp_type", "0");
    sim_put_int(o, "cali_idx", -1);
    json_object_set_new(o, "cols", json_pack("[s]", t->present ? t->colour : "00000000"));
    sim_put_int(o, "ctype", 0);
    sim_put_fmt(o, "nozzle_temp_max", "%d", m ? m->nozzle_max : 0);
    sim_put_fmt(o, "nozzle_temp_min", "%d", m ? m->nozzle_min : 0);
    /* whole percents rounded up; the tolerance keeps float residue (97.0000001) from a step */
    sim_put_int(o, "remain", rfid ? (json_int_t)ceil(t->remain - 1e-6) : (t->present && t->remain < 0 ? -1 : 0));
    if (p->model->tray_state && t->present)
        sim_put_int(o, "state", p->model->tray_state);
    sim_put_str(o, "tag_uid", t->tag_uid);
    sim_put_int(o, "total_len", 330000);
    sim_put_str(o, "tray_color", t->present ? t->colour : "00000000");
    sim_put_str(o, "tray_diameter", t->present && !rfid ? "0.00" : "1.75");
    if (rfid)
        sim_put_fmt(o, "tray_id_name", "%s-%s", m->code, c ? c->code : "X0");
    else
        sim_put_str(o, "tray_id_name", "");
    sim_put_str(o, "tray_info_idx", m ? (rfid ? m->info_idx : m->generic_idx) : "");
    sim_put_str(o, "tray_sub_brands", rfid ? m->sub_brand : "");
    sim_put_str(o, "tray_type", m ? m->type : "");
    sim_put_str(o, "tray_uuid", t->uuid);
    sim_put_str(o, "tray_weight", rfid ? "1000" : "0");
    sim_put_str(o, "xcam_info", "000000000000000000000000");
    const char *dry_t = sim_modern(p) ? "drying_temp" : "tray_temp";
    const char *dry_h = sim_modern(p) ? "drying_time" : "tray_time";
    sim_put_fmt(o, dry_t, "%d", rfid ? m->dry_temp : 0);
    sim_put_fmt(o, dry_h, "%d", rfid ? m->dry_hours : 0);
    if (!sim_modern(p)) {
        json_object_set_new(o, "k", json_real(m ? m->k : 0.02));
        sim_put_int(o, "n", 1);
    }
    return o;
}

/* ---- dynamic groups ---------------------------------------------------------------------- */

static void sim_b_extruders(const sim_printer *p, json_t *o)
{
    json_t *ex = sim_obj(sim_obj(o, "device"), "extruder");
    json_t *info = json_array();
    int n = p->model->flags & SIM_F_DUAL ? 2 : 1;
    for (int i = 0; i < n; i++) {
        /* the right/main extruder does the printing; the left one idles cold */
        bool main = i == 0;
        json_t *e = json_pack("{s:[],s:i,s:i,s:i,s:i,s:i,s:i,s:I}", "filam_bak", "hnow", 0, "hpre", 0,
                              "htar", 0, "id", i, "info", main ? 8 : 0, "stat", 0,
                              "temp", main ? sim_packed(p->nozzle_target, p->nozzle) : sim_packed(0, p->ambient));
        if (p->snow) {
            sim_put_int(e, "snow", main ? sim_snow(p->tray_now) : 0xFFFF);
            sim_put_int(e, "spre", main ? sim_snow(p->tray_pre) : 0xFFFF);
            sim_put_int(e, "star", main ? sim_snow(p->tray_tar) : 0xFFFF);
        }
        json_array_append_new(info, e);
    }
    json_object_set_new(ex, "info", info);
    sim_put_int(ex, "state", n); /* low 4 bits: extruder count; active extruder 0 */
}

static void sim_b_nozzle(const sim_printer *p, json_t *o)
{
    sim_put_temp(p, o, "nozzle_temper", p->nozzle);
    sim_put_temp(p, o, "nozzle_target_temper", p->nozzle_target);
    if (sim_modern(p))
        sim_b_extruders(p, o);
}

static void sim_b_bed(const sim_printer *p, json_t *o)
{
    sim_put_temp(p, o, "bed_temper", p->bed);
    sim_put_temp(p, o, "bed_target_temper", p->bed_target);
    if (!sim_modern(p))
        return;
    json_t *dev = sim_obj(o, "device"), *bed = sim_obj(dev, "bed");
    json_int_t packed = sim_packed(p->bed_target, p->bed);
    sim_put_int(sim_obj(bed, "info"), "temp", packed);
    sim_put_int(bed, "state", p->bed_target > 0 ? 2 : 0);
    sim_put_int(dev, "bed_temp", packed);
}

static void sim_b_chamber(const sim_printer *p, json_t *o)
{
    if (p->model->flags & SIM_F_CHAMBER_FLAT)
        sim_put_temp(p, o, "chamber_temper", p->chamber);
    if (!sim_modern(p))
        return;
    json_t *ctc = sim_obj(sim_obj(o, "device"), "ctc");
    sim_put_int(sim_obj(ctc, "info"), "temp", sim_packed(0, p->chamber));
    sim_put_int(ctc, "state", 0);
    sim_put_int(sim_obj(o, "info"), "temp", lround(p->chamber));
}

static void sim_b_fans(const sim_printer *p, json_t *o)
{
    sim_put_fmt(o, "cooling_fan_speed", "%d", p->fan_part);
    sim_put_fmt(o, "heatbreak_fan_speed", "%d", p->fan_heatbreak);
    sim_put_fmt(o, "big_fan1_speed", "%d", p->fan_aux);
    sim_put_fmt(o, "big_fan2_speed", "%d", p->fan_chamber);
    /* newer firmware packs 0-255 speeds: part | aux << 8 | chamber << 16 (Studio DevFan) */
    sim_put_int(o, "fan_gear", sim_modern(p)
                ? (json_int_t)((p->fan_part * 17) | ((p->fan_aux * 17) << 8) | ((p->fan_chamber * 17) << 16))
                : 0);
}

static void sim_b_wifi(const sim_printer *p, json_t *o)
{
    sim_put_fmt(o, "wifi_signal", "%ddBm", p->wifi);
}

static void sim_b_progress(const sim_printer *p, json_t *o)
{
    sim_put_int(o, "mc_percent", p->pct);
    sim_put_int(o, "mc_remaining_time", p->remaining_min);
    sim_put_int(o, "layer_num", p->layer);
    if (sim_modern(p)) {
        sim_put_int(o, "percent", p->pct);
        sim_put_int(o, "remain_time", p->remaining_min);
    } else {
        /* a plausible G-code line counter; only P1/A1 report it */
        sim_put_fmt(o, "mc_print_line_number", "%d", p->phase == SIM_RUNNING ? p->layer * 713 : 0);
    }
}

const char *sim_phase_name(sim_phase ph)
{
    static const char *const names[] = {"IDLE", "PREPARE", "RUNNING", "PAUSE", "FINISH", "FAILED"};
    return names[ph];
}

static void sim_b_job(const sim_printer *p, json_t *o)
{
    bool busy = p->phase == SIM_PREPARE || p->phase == SIM_RUNNING || p->phase == SIM_PAUSE;
    bool had_job = p->job.name[0] != '\0';
    char file[128] = "";
    if (had_job)
        snprintf(file, sizeof file, sim_modern(p) ? "/data/Metadata/plate_1.gcode" : "%s.gcode.3mf",
                 p->job.name);
    sim_put_str(o, "gcode_state", sim_phase_name(p->phase));
    sim_put_str(o, "gcode_file", file);
    sim_put_fmt(o, "gcode_file_prepare_percent", "%d", p->prepare_pct);
    sim_put_str(o, "subtask_name", p->job.name);
    sim_put_int(o, "total_layer_num", p->job.layers);
    size_t n_stages;
    const int *stages = sim_prepare_stages(&n_stages);
    json_t *stg = json_array();
    for (size_t i = 0; had_job && i < n_stages; i++)
        json_array_append_new(stg, json_integer(stages[i]));
    json_object_set_new(o, "stg", stg);
    sim_put_int(o, "stg_cur", p->stage);
    sim_put_str(o, "mc_print_stage", busy ? "2" : "1");
    sim_put_str(o, "print_type", busy ? "local" : "idle");
    sim_put_int(o, "print_error", p->print_error);
    sim_put_str(o, "project_id", "0");
    sim_put_str(o, "profile_id", "0");
    sim_put_fmt(o, "task_id", "%u", had_job ? p->job.task_id : 0);
    sim_put_fmt(o, "subtask_id", "%u", had_job ? p->job.task_id + 1 : 0);
    sim_put_int(o, "ams_status", busy ? 0x0300 : 0);
    if (sim_modern(p)) {
        sim_put_str(o, "file", file);
        sim_put_int(o, "prepare_per", p->prepare_pct);
        sim_put_int(o, "mc_stage", busy ? 2 : 1);
    }
}

/* A tray as tray_now numbers it: a unit's own slot where the firmware sends that. */
static int sim_tray_number(const sim_printer *p, int tray)
{
    return p->local_slot && tray < SIM_MAX_AMS * SIM_TRAYS ? tray % SIM_TRAYS : tray;
}

static void sim_b_ams_now(const sim_printer *p, json_t *o)
{
    json_t *ams = sim_obj(o, "ams");
    sim_put_fmt(ams, "tray_now", "%d", sim_tray_number(p, p->tray_now));
    sim_put_fmt(ams, "tray_pre", "%d", sim_tray_number(p, p->tray_pre));
    sim_put_fmt(ams, "tray_tar", "%d", sim_tray_number(p, p->tray_tar));
    sim_put_int(o, "hw_switch_state", p->tray_now != SIM_TRAY_NONE);
    if (!sim_modern(p))
        return;
    /* the job's filaments, each where it is fed from now; idle: the loaded tray */
    json_t *map = json_array();
    if (sim_printer_busy(p))
        for (int i = 0; i < p->job.n_fil; i++)
            json_array_append_new(map, json_integer(sim_snow(p->job.fil_tray[i])));
    else if (p->tray_now != SIM_TRAY_NONE)
        json_array_append_new(map, json_integer(sim_snow(p->tray_now)));
    json_object_set_new(o, "mapping", map);
}

/* AMS humidity level 1-5 (5 driest) from relative humidity */
static int sim_humidity_level(double raw)
{
    static const double limits[] = {20, 30, 40, 60};
    int level = 5;
    for (size_t i = 0; i < SIM_N(limits) && raw >= limits[i]; i++)
        level--;
    return level;
}

static void sim_b_ams(const sim_printer *p, json_t *o)
{
    json_t *ams = sim_obj(o, "ams"), *units = json_array();
    unsigned exist = 0, trays = 0, bbl = 0;
    const sim_ams_kind *kind = p->model->ams;
    for (int a = 0; a < p->n_ams; a++) {
        const sim_ams *u = &p->ams[a];
        json_t *unit = json_object(), *tl = json_array();
        sim_put_fmt(unit, "id", "%d", u->id);
        sim_put_fmt(unit, "humidity", "%d", kind->sensors ? sim_humidity_level(u->humidity_raw) : 5);
        sim_put_fmt(unit, "temp", "%.1f", kind->sensors ? u->temp : 0.0);
        if (kind->sensors) {
            sim_put_fmt(unit, "humidity_raw", "%d", (int)lround(u->humidity_raw));
            sim_put_int(unit, "dry_time", 0);
            sim_put_str(unit, "info", "1001");
        }
        exist |= 1u << u->id;
        for (int s = 0; s < SIM_TRAYS; s++) {
            char id[4];
            snprintf(id, sizeof id, "%d", s);
            json_array_append_new(tl, sim_tray_json(p, &u->tray[s], id, true));
            if (u->tray[s].present)
                trays |= 1u << (u->id * 4 + s);
            if (u->tray[s].present && u->tray[s].rfid)
                bbl |= 1u << (u->id * 4 + s);
        }
        json_object_set_new(unit, "tray", tl);
        json_array_append_new(units, unit);
    }
    json_object_set_new(ams, "ams", units);
    sim_put_fmt(ams, "ams_exist_bits", "%x", exist);
    sim_put_fmt(ams, "tray_exist_bits", "%x", trays);
    sim_put_fmt(ams, "tray_is_bbl_bits", "%x", bbl);
    sim_put_fmt(ams, "tray_read_done_bits", "%x", trays);
    sim_put_str(ams, "tray_reading_bits", "0");
    sim_put_int(ams, "version", p->ams_version);
    json_object_set_new(ams, "insert_flag", json_true());
    json_object_set_new(ams, "power_on_flag", json_false());
    if (sim_modern(p)) {
        sim_put_fmt(ams, "ams_exist_bits_raw", "%x", exist);
        sim_put_int(ams, "cali_id", 0);
        sim_put_int(ams, "cali_stat", 0);
        sim_put_int(ams, "unbind_ams_stat", 0);
    }
    sim_b_ams_now(p, o);
}

static void sim_b_ext(const sim_printer *p, json_t *o)
{
    if (p->model->flags & SIM_F_VT_TRAY)
        json_object_set_new(o, "vt_tray", sim_tray_json(p, &p->ext, "254", false));
    if (p->model->flags & SIM_F_VIR_SLOT) {
        json_t *slots = json_array();
        if (p->model->flags & SIM_F_DUAL) {
            sim_tray empty = {.tag_uid = "0000000000000000", .uuid = "00000000000000000000000000000000"};
            json_array_append_new(slots, sim_tray_json(p, &empty, "254", false));
        }
        json_array_append_new(slots, sim_tray_json(p, &p->ext, "255", false));
        json_object_set_new(o, "vir_slot", slots);
    }
}

static void sim_b_hms(const sim_printer *p, json_t *o)
{
    json_t *a = json_array();
    for (int i = 0; i < p->n_hms; i++)
        json_array_append_new(a, json_pack("{s:I,s:I}", "attr", (json_int_t)p->hms[i].attr,
                                           "code", (json_int_t)p->hms[i].code));
    json_object_set_new(o, "hms", a);
}

static void sim_b_lights(const sim_printer *p, json_t *o)
{
    const char *chamber = p->light ? "on" : "off";
    json_t *a = json_array();
    json_array_append_new(a, json_pack("{s:s,s:s}", "mode", chamber, "node", "chamber_light"));
    if (p->model->flags & SIM_F_WORK_LIGHT)
        json_array_append_new(a, json_pack("{s:s,s:s}", "mode", p->work_light, "node", "work_light"));
    if (p->model->flags & SIM_F_LIGHT2)
        json_array_append_new(a, json_pack("{s:s,s:s}", "mode", chamber, "node", "chamber_light2"));
    json_object_set_new(o, "lights_report", a);
}

static void sim_b_speed(const sim_printer *p, json_t *o)
{
    sim_put_int(o, "spd_lvl", p->spd_lvl);
    sim_put_int(o, "spd_mag", sim_speed_mag(p->spd_lvl));
}

static void sim_b_fun(const sim_printer *p, json_t *o)
{
    if (!p->model->fun)
        return;
    /* bit 0x20000000: the firmware wants signed commands. The captured values have it set
     * (Developer Mode off); a simulated printer takes LAN commands unless told otherwise. */
    const uint64_t sign = 0x20000000ull;
    uint64_t fun = (p->model->fun & ~sign) | (p->ack_mode == SIM_ACK_SIGNED ? sign : 0);
    sim_put_fmt(o, "fun", "%llX", (unsigned long long)fun);
}

typedef struct sim_group {
    unsigned bit;
    void (*build)(const sim_printer *p, json_t *o);
} sim_group;

static const sim_group sim_groups[] = {
    {SIM_G_NOZZLE, sim_b_nozzle},     {SIM_G_BED, sim_b_bed},     {SIM_G_CHAMBER, sim_b_chamber},
    {SIM_G_FANS, sim_b_fans},         {SIM_G_WIFI, sim_b_wifi},   {SIM_G_PROGRESS, sim_b_progress},
    {SIM_G_JOB, sim_b_job},           {SIM_G_AMS, sim_b_ams},     {SIM_G_AMS_NOW, sim_b_ams_now},
    {SIM_G_EXT, sim_b_ext},           {SIM_G_HMS, sim_b_hms},     {SIM_G_LIGHTS, sim_b_lights},
    {SIM_G_SPEED, sim_b_speed},       {SIM_G_FUN, sim_b_fun},
};

static void sim_build_groups(const sim_printer *p, json_t *o, unsigned groups)
{
    if (groups & SIM_G_AMS)
        groups &= ~SIM_G_AMS_NOW; /* the whole block already carries tray_now */
    for (size_t i = 0; i < SIM_N(sim_groups); i++)
        if (groups & sim_groups[i].bit)
            sim_groups[i].build(p, o);
}

static json_t *sim_wrap_print(sim_printer *p, json_t *print, int msg)
{
    sim_put_str(print, "command", "push_status");
    sim_put_int(print, "msg", msg);
    sim_put_fmt(print, "sequence_id", "%u", ++p->seq);
    return json_pack("{s:o}", "print", print);
}

json_t *sim_report_full(sim_printer *p)
{
    json_t *o = json_object();
    unsigned f = p->model->flags;
    for (size_t i = 0; i < SIM_N(sim_statics); i++)
        if ((f & sim_statics[i].need) == sim_statics[i].need && !(f & sim_statics[i].deny))
            json_object_set_new(o, sim_statics[i].key, json_deep_copy(sim_static_values[i]));
    sim_put_str(o, "nozzle_type", p->model->nozzle_type);
    if (sim_modern(p)) {
        sim_put_str(sim_obj(o, "upgrade_state"), "sn", p->serial);
        int n = f & SIM_F_DUAL ? 2 : 1;
        json_t *info = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(info, json_pack("{s:f,s:i,s:i,s:s,s:i}", "diameter", 0.4, "id", i,
                                                  "tm", 0, "type", "HS01", "wear", 0));
        json_object_set_new(sim_obj(o, "device"), "nozzle",
                            json_pack("{s:i,s:o,s:i}", "exist", n == 2 ? 3 : 1, "info", info, "state", 0));
    }
    sim_build_groups(p, o, SIM_G_ALL);
    if (p->hold)
        json_object_update(o, p->hold);
    return sim_wrap_print(p, o, 0);
}

json_t *sim_report_delta(sim_printer *p, unsigned groups)
{
    json_t *o = json_object();
    sim_build_groups(p, o, groups);
    if (p->hold) {
        const char *key;
        json_t *v;
        json_object_foreach(p->hold, key, v)
            json_object_del(o, key);
    }
    if (!json_object_size(o)) {
        json_decref(o);
        return NULL;
    }
    return sim_wrap_print(p, o, 1);
}

/* ---- get_version ---------------------------------------------------------------------- */

static json_t *sim_module(const char *name, const char *hw, const char *product, const char *sn,
                          const char *sw, int flag, bool visible)
{
    return json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "flag", flag, "hw_ver", hw,
                     "loader_ver", "00.00.00.00", "name", name, "product_name", product, "sn", sn,
                     "sw_ver", sw, "visible", visible);
}

json_t *sim_report_version(const sim_printer *p, json_t *sequence_id)
{
    static const char *const boards[3][3] = {
        /* legacy name, modern name, sw_ver */
        {"mc", "mc", "00.01.29.83"}, {"th", "th", "00.00.07.69"}, {"esp32", "ap", "01.13.33.99"}};
    bool modern = sim_modern(p);
    json_t *mods = json_array();
    json_array_append_new(mods, sim_module("ota", modern ? "N/A" : "OTA", p->model->product, p->serial,
                                           p->model->fw, 3, true));
    for (int a = 0; a < p->n_ams; a++) {
        const sim_ams_kind *k = p->model->ams;
        char name[32], product[48], sn[24];
        snprintf(name, sizeof name, "%s/%d", k->module, p->ams[a].id);
        if (k->numbered)
            snprintf(product, sizeof product, "%s (%d)", k->product, p->ams[a].id + 1);
        else
            snprintf(product, sizeof product, "%s", k->product);
        snprintf(sn, sizeof sn, "006%.10s%02d", p->serial + 3, p->ams[a].id);
        json_array_append_new(mods, sim_module(name, k->hw, product, sn, k->sw, 0, true));
    }
    for (int b = 0; b < 3; b++) {
        char sn[24];
        snprintf(sn, sizeof sn, "%.12s%03d", p->serial, b);
        json_array_append_new(mods, sim_module(boards[b][modern], p->model->hw[b], "", sn, boards[b][2], 0, false));
    }
    json_t *seq = sequence_id ? json_incref(sequence_id) : json_string("0");
    json_t *info = json_pack("{s:s,s:o,s:o}", "command", "get_version", "module", mods, "sequence_id", seq);
    /* P1/A1 firmware answers get_version with result/reason like an ack (samples a1, p1p) */
    if (!modern) {
        sim_put_str(info, "result", "success");
        sim_put_str(info, "reason", "");
    }
    return json_pack("{s:o}", "info", info);
}

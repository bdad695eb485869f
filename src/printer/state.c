#include "printer/state.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "printer/hms.h"
#include "printer/report.h"

#define DOOR_BIT     0x00800000u /* stat (H2/X2D/P2S) and home_flag (X1) */
#define SIGNED_BIT   0x20000000u /* fun: firmware wants signed commands */
#define FAN_STEPS    15.0        /* the *_fan_speed strings count 0-15 */

void pd_state_init(pd_state *st)
{
    memset(st, 0, sizeof *st);
    st->nozzle_temp = st->nozzle_target = st->bed_temp = st->bed_target = NAN;
    st->chamber_temp = NAN;
    st->fan_part = st->fan_aux = st->fan_chamber = st->fan_heatbreak = -1;
    st->light = -1;
    st->door_open = -1;
    st->tray_now = 255;
}

/* --- typed reads: a missing or malformed value leaves the destination alone ------------- */

/* o.k1.k2… ; NULL as soon as a step is missing or not an object. */
static const json_t *dig(const json_t *o, ...)
{
    va_list ap;
    va_start(ap, o);
    for (const char *k; o && (k = va_arg(ap, const char *));)
        o = json_object_get(o, k);
    va_end(ap);
    return o;
}
#define DIG(o, ...) dig((o), __VA_ARGS__, (const char *)NULL)

static int clamp_int(double d)
{
    if (d <= INT_MIN)
        return INT_MIN;
    if (d >= INT_MAX)
        return INT_MAX;
    return (int)d;
}

static bool read_double(const json_t *o, const char *key, double *dst)
{
    return pd_report_number(json_object_get(o, key), dst);
}

static bool read_int(const json_t *o, const char *key, int *dst)
{
    double d;
    if (!read_double(o, key, &d))
        return false;
    *dst = clamp_int(d);
    return true;
}

/* Values that are 32-bit words on the wire (attr, code, print_error, home_flag, packed
 * temperatures); home_flag arrives signed. */
static bool read_u32(const json_t *v, uint32_t *out)
{
    double d;
    if (!pd_report_number(v, &d) || d != floor(d) || d < INT32_MIN || d > UINT32_MAX)
        return false;
    *out = d < 0 ? (uint32_t)(int32_t)d : (uint32_t)d;
    return true;
}

/* Copies at most n-1 bytes, never ending inside a UTF-8 sequence (jansson would refuse to
 * serialise the result). */
static void copy_str(char *dst, size_t n, const char *s)
{
    size_t len = strnlen(s, n);
    if (len == n) {
        len = n - 1;
        while (len && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
}

static void read_str(const json_t *o, const char *key, char *dst, size_t n)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s)
        copy_str(dst, n, s);
}

/* RFID ids of spools without a tag are sent as all zeros. */
static void read_hex_id(const json_t *o, const char *key, char *dst, size_t n)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s && s[strspn(s, "0")])
        copy_str(dst, n, s);
}

/* --- sections of the print object --------------------------------------------------------- */

/* Newer firmware packs a temperature pair in one word: target << 16 | current. */
static bool read_packed(const json_t *v, double *cur, double *target)
{
    uint32_t u;
    if (!read_u32(v, &u))
        return false;
    *cur = u & 0xFFFF;
    *target = u >> 16;
    return true;
}

static void read_temp_pair(const json_t *p, const char *cur_key, const char *target_key,
                           const json_t *packed, double *cur, double *target)
{
    double pc, pt;
    bool have = read_packed(packed, &pc, &pt);
    if (!read_double(p, cur_key, cur) && have)
        *cur = pc;
    if (!read_double(p, target_key, target) && have)
        *target = pt;
}

/* device.extruder.state: low nibble = extruder count, next nibble = the active one. */
static const json_t *active_extruder(const json_t *dev)
{
    uint32_t state = 0;
    read_u32(DIG(dev, "extruder", "state"), &state);
    return pd_report_find_id(DIG(dev, "extruder", "info"), (state >> 4) & 0xF);
}

static void extract_temps(pd_state *st, const json_t *p, pd_model model)
{
    const json_t *dev = json_object_get(p, "device");
    read_temp_pair(p, "nozzle_temper", "nozzle_target_temper", DIG(active_extruder(dev), "temp"),
                   &st->nozzle_temp, &st->nozzle_target);
    read_temp_pair(p, "bed_temper", "bed_target_temper", DIG(dev, "bed", "info", "temp"),
                   &st->bed_temp, &st->bed_target);
    /* P1/A1 send a constant 5 as chamber_temper, so the flat field counts only on models with
     * a sensor; device.ctc is a real reading wherever it is present */
    bool sensor = pd_model_has_chamber_sensor(model);
    double cur, target;
    if (sensor && read_double(p, "chamber_temper", &st->chamber_temp))
        return;
    if (read_packed(DIG(dev, "ctc", "info", "temp"), &cur, &target))
        st->chamber_temp = cur;
    else if (!sensor)
        st->chamber_temp = NAN;
}

static int fan_percent(double v, double full_scale)
{
    double pct = round(v / full_scale * 100.0);
    return pct < 0 ? 0 : pct > 100 ? 100 : (int)pct;
}

static bool read_fan_steps(const json_t *p, const char *key, int *dst)
{
    double v;
    if (!read_double(p, key, &v))
        return false;
    *dst = fan_percent(v, FAN_STEPS);
    return true;
}

static void extract_fans(pd_state *st, const json_t *p)
{
    bool legacy = read_fan_steps(p, "cooling_fan_speed", &st->fan_part);
    read_fan_steps(p, "big_fan1_speed", &st->fan_aux);
    read_fan_steps(p, "big_fan2_speed", &st->fan_chamber);
    read_fan_steps(p, "heatbreak_fan_speed", &st->fan_heatbreak);

    /* Studio prefers fan_gear (0-255 per fan) where it is set: finer than the 0-15 steps */
    uint32_t gear;
    if (read_u32(json_object_get(p, "fan_gear"), &gear) && gear) {
        st->fan_part = fan_percent(gear & 0xFF, 255.0);
        st->fan_aux = fan_percent(gear >> 8 & 0xFF, 255.0);
        st->fan_chamber = fan_percent(gear >> 16 & 0xFF, 255.0);
        return;
    }
    if (legacy)
        return;
    /* Firmware without the legacy strings: airduct parts already hold percent, ids 16/32/48
     * are the part, aux and chamber fans. */
    const json_t *parts = DIG(p, "device", "airduct", "parts");
    double v;
    if (read_double(pd_report_find_id(parts, 16), "state", &v))
        st->fan_part = fan_percent(v, 100.0);
    if (read_double(pd_report_find_id(parts, 32), "state", &v))
        st->fan_aux = fan_percent(v, 100.0);
    if (read_double(pd_report_find_id(parts, 48), "state", &v))
        st->fan_chamber = fan_percent(v, 100.0);
}

static void extract_wifi(pd_state *st, const json_t *p)
{
    const char *s = json_string_value(json_object_get(p, "wifi_signal"));
    if (!s)
        return;
    char *end;
    long v = strtol(s, &end, 10);
    if (end != s && v < 0 && v > -200 && (!*end || !strcmp(end, "dBm")))
        st->wifi_dbm = (int)v;
}

static void extract_light(pd_state *st, const json_t *p)
{
    size_t i;
    const json_t *node;
    json_array_foreach(json_object_get(p, "lights_report"), i, node) {
        const char *name = json_string_value(json_object_get(node, "node"));
        const char *mode = json_string_value(json_object_get(node, "mode"));
        if (!name || !mode || strcmp(name, "chamber_light"))
            continue;
        if (!strcmp(mode, "off"))
            st->light = 0;
        else if (!strcmp(mode, "on") || !strcmp(mode, "flashing"))
            st->light = 1;
    }
}

static void extract_nozzle(pd_state *st, const json_t *p)
{
    read_double(p, "nozzle_diameter", &st->nozzle_diameter);
    read_str(p, "nozzle_type", st->nozzle_type, sizeof st->nozzle_type);
    /* device.nozzle.info carries the exact nozzle code; id 0 is the mounted (right) one */
    const json_t *n0 = pd_report_find_id(DIG(p, "device", "nozzle", "info"), 0);
    read_double(n0, "diameter", &st->nozzle_diameter);
    read_str(n0, "type", st->nozzle_type, sizeof st->nozzle_type);
}

static bool is_hex(const char *s, size_t len)
{
    return strlen(s) == len && strspn(s, "0123456789abcdefABCDEF") == len;
}

/* exist: 1/0 from tray_exist_bits, -1 when the bits say nothing about this slot. */
static void extract_tray(pd_tray *t, const json_t *o, int exist)
{
    long long id = 0;
    memset(t, 0, sizeof *t);
    t->remain = -1;
    if (pd_report_id(o, &id) && id >= 0 && id <= 255)
        t->id = (int)id;
    read_str(o, "tray_type", t->type, sizeof t->type);
    read_str(o, "tray_sub_brands", t->sub_brand, sizeof t->sub_brand);
    read_str(o, "tray_info_idx", t->info_idx, sizeof t->info_idx);
    read_str(o, "tray_id_name", t->id_name, sizeof t->id_name);
    read_hex_id(o, "tray_uuid", t->uuid, sizeof t->uuid);
    read_hex_id(o, "tag_uid", t->tag_uid, sizeof t->tag_uid);
    const char *c = json_string_value(json_object_get(o, "tray_color"));
    if (c && (is_hex(c, 8) || is_hex(c, 6))) {
        t->color[0] = '#';
        copy_str(t->color + 1, sizeof t->color - 1, c);
    }
    read_int(o, "remain", &t->remain);
    read_int(o, "tray_weight", &t->tray_weight);
    read_int(o, "nozzle_temp_min", &t->nozzle_min);
    read_int(o, "nozzle_temp_max", &t->nozzle_max);
    read_double(o, "k", &t->k);
    t->present = exist >= 0 ? exist : t->type[0] != '\0';
}

static const pd_ams_unit *unit_find(const pd_ams_unit *units, int n, int id)
{
    for (int i = 0; i < n; i++)
        if (units[i].id == id)
            return &units[i];
    return NULL;
}

static void extract_unit(pd_ams_unit *u, const json_t *o, int id, const pd_ams_unit *prev,
                         const uint64_t *bits)
{
    memset(u, 0, sizeof *u);
    u->id = id;
    u->humidity_pct = -1;
    /* levels outside 1-5 happen while the AMS powers up: keep what we knew */
    int level = 0;
    if (read_int(o, "humidity", &level) && level >= 1 && level <= 5)
        u->humidity = level;
    else if (prev)
        u->humidity = prev->humidity;
    /* AMS Lite has no sensor and sends "0"; no real AMS reads 0 % */
    int pct = 0;
    if (read_int(o, "humidity_raw", &pct) && pct > 0 && pct <= 100)
        u->humidity_pct = pct;
    read_double(o, "temp", &u->temp);
    size_t i;
    const json_t *tray;
    json_array_foreach(json_object_get(o, "tray"), i, tray) {
        long long slot;
        if (u->n_trays == PD_MAX_TRAYS)
            break;
        if (!pd_report_id(tray, &slot))
            continue;
        int bit = bits ? pd_report_tray_bit(id, slot) : -1;
        extract_tray(&u->trays[u->n_trays++], tray, bit < 0 ? -1 : (int)(*bits >> bit & 1));
    }
}

/* Units and trays are rebuilt from the merged object every time: a unit or a spool that is
 * gone from it is gone. */
static void extract_ams(pd_state *st, const json_t *p)
{
    const json_t *ams = json_object_get(p, "ams");
    read_int(ams, "tray_now", &st->tray_now);

    uint64_t bits;
    bool use_bits = pd_report_hex(json_object_get(ams, "tray_exist_bits"), &bits) &&
                    (bits || json_is_true(json_object_get(ams, "power_on_flag")));
    pd_ams_unit prev[PD_MAX_AMS];
    int n_prev = st->n_ams;
    memcpy(prev, st->ams, sizeof prev);
    st->n_ams = 0;
    size_t i;
    const json_t *unit;
    json_array_foreach(json_object_get(ams, "ams"), i, unit) {
        long long id;
        if (st->n_ams == PD_MAX_AMS)
            break;
        if (!pd_report_id(unit, &id) || id < 0 || id > 255)
            continue;
        extract_unit(&st->ams[st->n_ams++], unit, (int)id, unit_find(prev, n_prev, (int)id),
                     use_bits ? &bits : NULL);
    }
}

/* vir_slot's main holder (255) on printers that have holders, else vt_tray. */
static void extract_external(pd_state *st, const json_t *p)
{
    const json_t *ext = pd_report_find_id(json_object_get(p, "vir_slot"), 255);
    if (!ext)
        ext = json_object_get(p, "vt_tray");
    st->has_external = json_is_object(ext);
    if (st->has_external)
        extract_tray(&st->external, ext, -1);
    else
        memset(&st->external, 0, sizeof st->external);
}

static bool hms_seen(const pd_state *st, uint32_t attr, uint32_t code)
{
    for (int i = 0; i < st->n_hms; i++)
        if (st->hms[i].attr == attr && st->hms[i].code == code)
            return true;
    return false;
}

static void extract_hms(pd_state *st, const json_t *p)
{
    const json_t *list = json_object_get(p, "hms");
    if (!json_is_array(list))
        return;
    st->n_hms = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e) {
        uint32_t attr, code;
        if (st->n_hms == PD_MAX_HMS)
            break;
        if (!read_u32(json_object_get(e, "attr"), &attr) ||
            !read_u32(json_object_get(e, "code"), &code) || !attr || !code ||
            hms_seen(st, attr, code))
            continue;
        st->hms[st->n_hms++] = (pd_hms_alert){attr, code};
    }
}

/* Door sensors: H2/X2D/P2S report it in `stat`, the X1 family in `home_flag`; others have
 * no door (or no sensor). */
static void extract_door(pd_state *st, const json_t *p, pd_model model)
{
    uint64_t stat;
    uint32_t flag;
    switch (model) {
    case PD_MODEL_H2D: case PD_MODEL_H2DPRO: case PD_MODEL_H2C: case PD_MODEL_H2S:
    case PD_MODEL_X2D: case PD_MODEL_P2S:
        if (pd_report_hex(json_object_get(p, "stat"), &stat))
            st->door_open = (stat & DOOR_BIT) != 0;
        break;
    case PD_MODEL_X1: case PD_MODEL_X1C: case PD_MODEL_X1E:
        if (read_u32(json_object_get(p, "home_flag"), &flag))
            st->door_open = (flag & DOOR_BIT) != 0;
        break;
    default:
        st->door_open = -1;
        break;
    }
}

void pd_state_extract(pd_state *st, const json_t *p, pd_model model)
{
    if (!json_is_object(p))
        return;
    read_str(p, "gcode_state", st->gcode_state, sizeof st->gcode_state);
    read_int(p, "stg_cur", &st->stage);
    read_int(p, "mc_percent", &st->progress);
    /* H2 firmware also mirrors the layers under "3D" */
    const json_t *d3 = json_object_get(p, "3D");
    if (!read_int(p, "layer_num", &st->layer))
        read_int(d3, "layer_num", &st->layer);
    if (!read_int(p, "total_layer_num", &st->total_layers))
        read_int(d3, "total_layer_num", &st->total_layers);
    read_int(p, "mc_remaining_time", &st->remaining_min);
    read_str(p, "subtask_name", st->subtask, sizeof st->subtask);
    read_str(p, "gcode_file", st->gcode_file, sizeof st->gcode_file);
    extract_temps(st, p, model);
    extract_fans(st, p);
    read_int(p, "spd_lvl", &st->speed_level);
    read_int(p, "spd_mag", &st->speed_mag);
    extract_wifi(st, p);
    extract_light(st, p);
    extract_nozzle(st, p);
    extract_ams(st, p);
    extract_external(st, p);
    extract_hms(st, p);
    read_u32(json_object_get(p, "print_error"), &st->print_error);
    uint64_t fun;
    if (pd_report_hex(json_object_get(p, "fun"), &fun))
        st->sign_required = (fun & SIGNED_BIT) != 0;
    extract_door(st, p, model);
}

/* --- API JSON ----------------------------------------------------------------------------- */

/* "" means unknown: null */
static void k_text(pd_jw *w, const char *key, const char *s)
{
    pd_jw_key(w, key);
    pd_jw_str(w, *s ? s : NULL);
}

static void k_int(pd_jw *w, const char *key, long long v)
{
    pd_jw_key(w, key);
    pd_jw_int(w, v);
}

/* An int whose sentinel value means "unknown". */
static void k_int_or_null(pd_jw *w, const char *key, long long v, long long unknown)
{
    pd_jw_key(w, key);
    if (v == unknown)
        pd_jw_null(w);
    else
        pd_jw_int(w, v);
}

/* NAN is written as null; with zero_unknown, 0 too */
static void k_real(pd_jw *w, const char *key, double v, bool zero_unknown)
{
    pd_jw_key(w, key);
    pd_jw_real(w, zero_unknown && v == 0 ? NAN : v);
}

static void k_bool(pd_jw *w, const char *key, bool v)
{
    pd_jw_key(w, key);
    pd_jw_bool(w, v);
}

static void tray_write(pd_jw *w, const pd_tray *t)
{
    pd_jw_open(w, '{');
    k_int(w, "id", t->id);
    k_bool(w, "present", t->present);
    k_text(w, "type", t->type);
    k_text(w, "sub_brand", t->sub_brand);
    k_text(w, "color", t->color);
    k_int_or_null(w, "remain", t->remain, -1);
    k_text(w, "uuid", t->uuid);
    k_text(w, "tag_uid", t->tag_uid);
    k_int_or_null(w, "tray_weight", t->tray_weight, 0);
    k_int_or_null(w, "nozzle_min", t->nozzle_min, 0);
    k_int_or_null(w, "nozzle_max", t->nozzle_max, 0);
    k_real(w, "k", t->k, true);
    k_text(w, "info_idx", t->info_idx);
    k_text(w, "id_name", t->id_name);
    pd_jw_close(w, '}');
}

static void ams_write(pd_jw *w, const pd_state *st)
{
    pd_jw_key(w, "ams");
    pd_jw_open(w, '[');
    for (int i = 0; i < st->n_ams; i++) {
        const pd_ams_unit *u = &st->ams[i];
        pd_jw_open(w, '{');
        k_int(w, "id", u->id);
        k_int_or_null(w, "humidity", u->humidity, 0);
        k_int_or_null(w, "humidity_pct", u->humidity_pct, -1);
        k_real(w, "temp", u->temp, true);
        pd_jw_key(w, "trays");
        pd_jw_open(w, '[');
        for (int j = 0; j < u->n_trays; j++)
            tray_write(w, &u->trays[j]);
        pd_jw_close(w, ']');
        pd_jw_close(w, '}');
    }
    pd_jw_close(w, ']');
}

static void hms_write(pd_jw *w, const pd_state *st, pd_model model)
{
    pd_jw_key(w, "hms");
    pd_jw_open(w, '[');
    for (int i = 0; i < st->n_hms; i++) {
        const pd_hms_alert *a = &st->hms[i];
        char code[24], url[256];
        pd_hms_format(a->attr, a->code, code);
        pd_hms_url(a->attr, a->code, model, url, sizeof url);
        pd_jw_open(w, '{');
        k_text(w, "code", code);
        k_int(w, "attr", a->attr);
        k_int(w, "severity", pd_hms_severity(a->code));
        pd_jw_key(w, "text");
        pd_jw_str(w, pd_hms_text(a->attr, a->code, model));
        k_text(w, "url", url);
        pd_jw_close(w, '}');
    }
    pd_jw_close(w, ']');
}

static void print_error_write(pd_jw *w, const pd_state *st, pd_model model)
{
    pd_jw_key(w, "print_error");
    if (!st->print_error) {
        pd_jw_null(w);
        return;
    }
    char code[10];
    pd_print_error_format(st->print_error, code);
    pd_jw_open(w, '{');
    k_text(w, "code", code);
    k_int(w, "value", st->print_error);
    pd_jw_key(w, "text");
    pd_jw_str(w, pd_print_error_text(st->print_error, model));
    pd_jw_close(w, '}');
}

/* -1 is unknown (null) */
static void k_fan(pd_jw *w, const char *key, int v)
{
    k_int_or_null(w, key, v, -1);
}

void pd_state_write_json(const pd_state *st, pd_model model, pd_jw *w)
{
    k_text(w, "state", st->gcode_state);
    k_int(w, "stage", st->stage);
    k_int(w, "progress", st->progress);
    k_int(w, "layer", st->layer);
    k_int(w, "total_layers", st->total_layers);
    k_int(w, "remaining_min", st->remaining_min);
    k_text(w, "subtask", st->subtask);
    k_text(w, "gcode_file", st->gcode_file);
    k_real(w, "nozzle_temp", st->nozzle_temp, false);
    k_real(w, "nozzle_target", st->nozzle_target, false);
    k_real(w, "bed_temp", st->bed_temp, false);
    k_real(w, "bed_target", st->bed_target, false);
    k_real(w, "chamber_temp", st->chamber_temp, false);
    pd_jw_key(w, "fans");
    pd_jw_open(w, '{');
    k_fan(w, "part", st->fan_part);
    k_fan(w, "aux", st->fan_aux);
    k_fan(w, "chamber", st->fan_chamber);
    k_fan(w, "heatbreak", st->fan_heatbreak);
    pd_jw_close(w, '}');
    k_int_or_null(w, "speed_level", st->speed_level, 0);
    k_int(w, "speed_mag", st->speed_mag);
    k_int_or_null(w, "wifi_dbm", st->wifi_dbm, 0);
    pd_jw_key(w, "light");
    pd_jw_str(w, st->light < 0 ? NULL : st->light ? "on" : "off");
    pd_jw_key(w, "door_open");
    if (st->door_open < 0)
        pd_jw_null(w);
    else
        pd_jw_bool(w, st->door_open);
    pd_jw_key(w, "nozzle");
    pd_jw_open(w, '{');
    k_real(w, "diameter", st->nozzle_diameter, true);
    k_text(w, "type", st->nozzle_type);
    pd_jw_close(w, '}');
    ams_write(w, st);
    k_int(w, "tray_now", st->tray_now);
    pd_jw_key(w, "external");
    if (st->has_external)
        tray_write(w, &st->external);
    else
        pd_jw_null(w);
    hms_write(w, st, model);
    print_error_write(w, st, model);
    k_bool(w, "sign_required", st->sign_required);
}

/* --- diff --------------------------------------------------------------------------------- */

static bool same_d(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

/* What subscribers of PD_EV_TRAY care about: which spool is in the slot, and how much. */
static bool tray_same_spool(const pd_tray *a, const pd_tray *b)
{
    return a->present == b->present && a->remain == b->remain && !strcmp(a->uuid, b->uuid) &&
           !strcmp(a->type, b->type) && !strcmp(a->color, b->color);
}

static bool tray_same(const pd_tray *a, const pd_tray *b)
{
    return tray_same_spool(a, b) && a->id == b->id && !strcmp(a->sub_brand, b->sub_brand) &&
           !strcmp(a->info_idx, b->info_idx) && !strcmp(a->id_name, b->id_name) &&
           !strcmp(a->tag_uid, b->tag_uid) && a->tray_weight == b->tray_weight &&
           a->nozzle_min == b->nozzle_min && a->nozzle_max == b->nozzle_max && same_d(a->k, b->k);
}

static const pd_tray *tray_find(const pd_ams_unit *u, int id)
{
    for (int i = 0; u && i < u->n_trays; i++)
        if (u->trays[i].id == id)
            return &u->trays[i];
    return NULL;
}

typedef struct differ {
    pd_bus *bus;
    const pd_event *base;
    bool changed;
} differ;

static void emit(differ *d, pd_event *ev)
{
    d->changed = true;
    if (d->bus)
        pd_bus_emit(d->bus, ev);
}

static void emit_tray(differ *d, int ams_id, int tray_id)
{
    pd_event ev = *d->base;
    ev.type = PD_EV_TRAY;
    ev.u.tray.ams_id = ams_id;
    ev.u.tray.tray_id = tray_id;
    emit(d, &ev);
}

/* A slot missing on one side compares against an empty slot, so a unit plugged in or pulled
 * out reports each spool it carries. */
static void diff_tray(differ *d, int ams_id, const pd_tray *a, const pd_tray *b)
{
    pd_tray empty = {.remain = -1, .id = a ? a->id : b->id};
    if (!a)
        a = &empty;
    if (!b)
        b = &empty;
    if (!tray_same_spool(a, b))
        emit_tray(d, ams_id, b->id);
    else if (!tray_same(a, b))
        d->changed = true;
}

static void diff_ams(differ *d, const pd_state *old, const pd_state *cur)
{
    if (old->n_ams != cur->n_ams || old->tray_now != cur->tray_now)
        d->changed = true;
    for (int i = 0; i < cur->n_ams; i++) {
        const pd_ams_unit *u = &cur->ams[i], *o = unit_find(old->ams, old->n_ams, u->id);
        if (!o || o->humidity != u->humidity || o->humidity_pct != u->humidity_pct ||
            !same_d(o->temp, u->temp) || o->n_trays != u->n_trays)
            d->changed = true;
        for (int j = 0; j < u->n_trays; j++)
            diff_tray(d, u->id, tray_find(o, u->trays[j].id), &u->trays[j]);
        for (int j = 0; o && j < o->n_trays; j++)
            if (!tray_find(u, o->trays[j].id))
                diff_tray(d, u->id, &o->trays[j], NULL);
    }
    for (int i = 0; i < old->n_ams; i++) {
        const pd_ams_unit *o = &old->ams[i];
        if (unit_find(cur->ams, cur->n_ams, o->id))
            continue;
        for (int j = 0; j < o->n_trays; j++)
            diff_tray(d, o->id, &o->trays[j], NULL);
    }
}

static void emit_hms(differ *d, pd_event_type type, const pd_hms_alert *a, pd_model model)
{
    char code[24];
    pd_hms_format(a->attr, a->code, code);
    pd_event ev = *d->base;
    ev.type = type;
    ev.u.hms.code = code;
    ev.u.hms.text = pd_hms_text(a->attr, a->code, model);
    emit(d, &ev);
}

static void diff_hms(differ *d, const pd_state *old, const pd_state *cur, pd_model model)
{
    for (int i = 0; i < cur->n_hms; i++)
        if (!hms_seen(old, cur->hms[i].attr, cur->hms[i].code))
            emit_hms(d, PD_EV_HMS_RAISED, &cur->hms[i], model);
    for (int i = 0; i < old->n_hms; i++)
        if (!hms_seen(cur, old->hms[i].attr, old->hms[i].code))
            emit_hms(d, PD_EV_HMS_CLEARED, &old->hms[i], model);
    /* unchanged so far means the same count; the same set in another order still changes
     * what the API lists */
    for (int i = 0; i < cur->n_hms && !d->changed; i++)
        if (old->hms[i].attr != cur->hms[i].attr || old->hms[i].code != cur->hms[i].code)
            d->changed = true;
}

static bool scalars_same(const pd_state *a, const pd_state *b)
{
    return !strcmp(a->gcode_state, b->gcode_state) && a->stage == b->stage &&
           a->progress == b->progress && a->layer == b->layer &&
           a->total_layers == b->total_layers && a->remaining_min == b->remaining_min &&
           !strcmp(a->subtask, b->subtask) && !strcmp(a->gcode_file, b->gcode_file) &&
           same_d(a->nozzle_temp, b->nozzle_temp) && same_d(a->nozzle_target, b->nozzle_target) &&
           same_d(a->bed_temp, b->bed_temp) && same_d(a->bed_target, b->bed_target) &&
           same_d(a->chamber_temp, b->chamber_temp) && a->fan_part == b->fan_part &&
           a->fan_aux == b->fan_aux && a->fan_chamber == b->fan_chamber &&
           a->fan_heatbreak == b->fan_heatbreak && a->speed_level == b->speed_level &&
           a->speed_mag == b->speed_mag && a->wifi_dbm == b->wifi_dbm && a->light == b->light &&
           same_d(a->nozzle_diameter, b->nozzle_diameter) &&
           !strcmp(a->nozzle_type, b->nozzle_type) && a->print_error == b->print_error &&
           a->sign_required == b->sign_required && a->door_open == b->door_open &&
           a->n_hms == b->n_hms;
}

bool pd_state_diff(const pd_state *old, const pd_state *cur, pd_model model, pd_bus *bus,
                   const pd_event *base)
{
    pd_event zero = {0};
    differ d = {bus, base ? base : &zero, !scalars_same(old, cur)};
    pd_event ev = *d.base;
    if (strcmp(old->gcode_state, cur->gcode_state)) {
        ev.type = PD_EV_JOB_PHASE;
        ev.u.phase.from = old->gcode_state;
        ev.u.phase.to = cur->gcode_state;
        emit(&d, &ev);
    }
    if (old->layer != cur->layer) {
        ev = *d.base;
        ev.type = PD_EV_LAYER;
        ev.u.layer.layer = cur->layer;
        ev.u.layer.total = cur->total_layers;
        emit(&d, &ev);
    }
    diff_ams(&d, old, cur);
    if (old->has_external || cur->has_external) {
        if (old->has_external != cur->has_external)
            d.changed = true;
        diff_tray(&d, 255, old->has_external ? &old->external : NULL,
                  cur->has_external ? &cur->external : NULL);
    }
    diff_hms(&d, old, cur, model);
    return d.changed;
}

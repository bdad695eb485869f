#include "printer/state.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "printer/hms.h"
#include "printer/report.h"

#define DOOR_BIT      0x00800000u /* stat (H2/X2D/P2S) and home_flag (X1) */
#define SIGNED_BIT    0x20000000  /* fun: firmware wants signed commands */
#define FAN_STEPS     15.0        /* the *_fan_speed strings count 0-15 */

/* What a reader sees. */
struct pd_state_in {
    const json_t *o;       /* the object the record is read from: print, an AMS unit, a tray */
    pd_model model;
    const void *prev;      /* AMS unit: the same unit in the previous state, or NULL */
    const uint64_t *bits;  /* AMS unit: tray_exist_bits when they count, else NULL */
    int exist;             /* tray: 1/0 from tray_exist_bits, -1 when they say nothing */
    const uint64_t *bbl_bits; /* AMS unit: tray_is_bbl_bits when sent, else NULL */
    int bbl;               /* tray: 1/0 from tray_is_bbl_bits, -1 when they say nothing */
};
typedef struct pd_state_in state_in;

struct pd_state_differ {
    pd_bus *bus;
    const pd_event *base;
    pd_model model;
    int ams_id;            /* the unit whose trays are being compared */
    bool changed;
};
typedef struct pd_state_differ differ;

#define FIELD(T, f, rec)  ((T *)((char *)(rec) + (f)->off))
#define CFIELD(T, f, rec) ((const T *)((const char *)(rec) + (f)->off))

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

static bool read_int(const json_t *v, int *dst)
{
    double d;
    if (!pd_report_number(v, &d))
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

/* v into the field as its kind says; false (field untouched) if missing or mistyped. */
static bool read_value(const pd_state_field *f, void *rec, const json_t *v)
{
    const char *s;
    switch (f->kind) {
    case PD_SK_INT:
        return read_int(v, FIELD(int, f, rec));
    case PD_SK_REAL:
        return pd_report_number(v, FIELD(double, f, rec));
    case PD_SK_TEXT:
        if (!(s = json_string_value(v)))
            return false;
        copy_str(FIELD(char, f, rec), f->size, s);
        return true;
    case PD_SK_BOOL:
        if (!json_is_boolean(v))
            return false;
        *FIELD(bool, f, rec) = json_is_true(v);
        return true;
    case PD_SK_U32:
        return read_u32(v, FIELD(uint32_t, f, rec));
    default:
        return false;
    }
}

/* --- records: reset, read, write, compare, driven by their tables ------------------------- */

static void set_unknown(const pd_state_table *t, void *rec)
{
    for (size_t i = 0; i < t->n; i++) {
        const pd_state_field *f = &t->rows[i];
        if (f->kind == PD_SK_INT && f->unknown == PD_SU_MINUS1)
            *FIELD(int, f, rec) = -1;
        else if (f->kind == PD_SK_REAL && f->unknown == PD_SU_NAN)
            *FIELD(double, f, rec) = NAN;
        else if (f->kind == PD_SK_GROUP)
            set_unknown(f->sub, rec);
        else if (f->kind == PD_SK_RECORD)
            set_unknown(f->sub, FIELD(char, f, rec));
    }
}

/* Every field unknown, every list empty. */
static void record_reset(const pd_state_table *t, void *rec)
{
    memset(rec, 0, t->size);
    set_unknown(t, rec);
}

static void record_read(const pd_state_table *t, void *rec, const state_in *in)
{
    for (size_t i = 0; i < t->n; i++) {
        const pd_state_field *f = &t->rows[i];
        if (f->read)
            f->read(f, rec, in);
        else if (f->kind == PD_SK_GROUP)
            record_read(f->sub, rec, in);
        else if (f->src)
            read_value(f, rec, json_object_get(in->o, f->src));
    }
}

/* Nested records are rebuilt from the merged object every time: a unit or a spool that is
 * gone from it is gone. */
static void record_read_fresh(const pd_state_table *t, void *rec, const state_in *in)
{
    record_reset(t, rec);
    record_read(t, rec, in);
}

static bool is_unknown(const pd_state_field *f, const void *rec)
{
    switch (f->kind) {
    case PD_SK_INT: {
        int v = *CFIELD(int, f, rec);
        return (f->unknown == PD_SU_ZERO && v == 0) || (f->unknown == PD_SU_MINUS1 && v == -1);
    }
    case PD_SK_REAL: {
        double v = *CFIELD(double, f, rec);
        return isnan(v) || (f->unknown == PD_SU_ZERO && v == 0);
    }
    case PD_SK_TEXT:
        return !*CFIELD(char, f, rec);
    case PD_SK_U32:
        return f->unknown == PD_SU_ZERO && !*CFIELD(uint32_t, f, rec);
    default:
        return false;
    }
}

bool pd_state_number(const pd_state_field *f, const void *rec, double *out)
{
    if (is_unknown(f, rec))
        return false;
    switch (f->kind) {
    case PD_SK_INT: *out = *CFIELD(int, f, rec); return true;
    case PD_SK_REAL: *out = *CFIELD(double, f, rec); return true;
    case PD_SK_BOOL: *out = *CFIELD(bool, f, rec); return true;
    case PD_SK_U32: *out = *CFIELD(uint32_t, f, rec); return true;
    default: return false;
    }
}

static void record_object(pd_jw *w, const pd_state_table *t, const void *rec, pd_model model);

static void list_write(pd_jw *w, const pd_state_field *f, const void *rec, pd_model model)
{
    int n = *(const int *)((const char *)rec + f->count_off);
    const char *e = CFIELD(char, f, rec);
    pd_jw_open(w, '[');
    for (int i = 0; i < n; i++, e += f->sub->size)
        record_object(w, f->sub, e, model);
    pd_jw_close(w, ']');
}

static void record_members(pd_jw *w, const pd_state_table *t, const void *rec, pd_model model)
{
    for (size_t i = 0; i < t->n; i++) {
        const pd_state_field *f = &t->rows[i];
        pd_jw_key(w, f->key);
        if (is_unknown(f, rec)) {
            pd_jw_null(w);
            continue;
        }
        if (f->write) {
            f->write(w, f, rec, model);
            continue;
        }
        switch (f->kind) {
        case PD_SK_INT: pd_jw_int(w, *CFIELD(int, f, rec)); break;
        case PD_SK_REAL: pd_jw_real(w, *CFIELD(double, f, rec)); break;
        case PD_SK_TEXT: pd_jw_str(w, CFIELD(char, f, rec)); break;
        case PD_SK_BOOL: pd_jw_bool(w, *CFIELD(bool, f, rec)); break;
        case PD_SK_U32: pd_jw_int(w, *CFIELD(uint32_t, f, rec)); break;
        case PD_SK_GROUP: record_object(w, f->sub, rec, model); break;
        case PD_SK_LIST: list_write(w, f, rec, model); break;
        case PD_SK_RECORD:
            if (*(const bool *)((const char *)rec + f->count_off))
                record_object(w, f->sub, CFIELD(char, f, rec), model);
            else
                pd_jw_null(w);
            break;
        case PD_SK_DERIVED: break;
        }
    }
}

static void record_object(pd_jw *w, const pd_state_table *t, const void *rec, pd_model model)
{
    pd_jw_open(w, '{');
    record_members(w, t, rec, model);
    pd_jw_close(w, '}');
}

static bool same_d(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

static bool field_same(const pd_state_field *f, const void *a, const void *b)
{
    switch (f->kind) {
    case PD_SK_INT: return *CFIELD(int, f, a) == *CFIELD(int, f, b);
    case PD_SK_REAL: return same_d(*CFIELD(double, f, a), *CFIELD(double, f, b));
    case PD_SK_TEXT: return !strcmp(CFIELD(char, f, a), CFIELD(char, f, b));
    case PD_SK_BOOL: return *CFIELD(bool, f, a) == *CFIELD(bool, f, b);
    case PD_SK_U32: return *CFIELD(uint32_t, f, a) == *CFIELD(uint32_t, f, b);
    default: return true;
    }
}

/* Scalars only: for records without lists (an HMS alert). */
static bool record_same(const pd_state_table *t, const void *a, const void *b)
{
    for (size_t i = 0; i < t->n; i++)
        if (!field_same(&t->rows[i], a, b))
            return false;
    return true;
}

static void emit(differ *d, pd_event *ev)
{
    d->changed = true;
    if (d->bus)
        pd_bus_emit(d->bus, ev);
}

/* The event a changed field names; its payload comes from the record that field lives in. */
static void emit_change(differ *d, pd_event_type type, const void *old, const void *cur)
{
    pd_event ev = *d->base;
    ev.type = type;
    switch (type) {
    case PD_EV_JOB_PHASE:
        ev.u.phase.from = ((const pd_state *)old)->gcode_state;
        ev.u.phase.to = ((const pd_state *)cur)->gcode_state;
        break;
    case PD_EV_LAYER:
        ev.u.layer.layer = ((const pd_state *)cur)->layer;
        ev.u.layer.total = ((const pd_state *)cur)->total_layers;
        break;
    case PD_EV_TRAY:
        ev.u.tray.ams_id = d->ams_id;
        ev.u.tray.tray_id = ((const pd_tray *)cur)->id;
        break;
    default:
        break;
    }
    emit(d, &ev);
}

/* Every row is compared: a changed field marks the printer changed and emits its event, at
 * most once per record (a tray whose type and colour change is one TRAY event). */
static void record_diff(differ *d, const pd_state_table *t, const void *old, const void *cur)
{
    pd_event_type sent = 0;
    for (size_t i = 0; i < t->n; i++) {
        const pd_state_field *f = &t->rows[i];
        switch (f->kind) {
        case PD_SK_DERIVED:
            break;
        case PD_SK_GROUP:
            record_diff(d, f->sub, old, cur);
            break;
        case PD_SK_LIST:
        case PD_SK_RECORD:
            f->diff(d, f, old, cur);
            break;
        default:
            if (field_same(f, old, cur))
                break;
            d->changed = true;
            if (f->event && !(sent & f->event)) {
                sent |= f->event;
                emit_change(d, f->event, old, cur);
            }
            break;
        }
    }
}

/* --- readers: fields that need decoding ----------------------------------------------------- */

/* `src` inside the object `alt` */
static void read_inside(const pd_state_field *f, void *rec, const state_in *in)
{
    read_value(f, rec, DIG(in->o, f->alt, f->src));
}

/* `src`, else the same key inside `alt` (H2 firmware also mirrors the layers under "3D") */
static void read_or_inside(const pd_state_field *f, void *rec, const state_in *in)
{
    if (!read_value(f, rec, json_object_get(in->o, f->src)))
        read_inside(f, rec, in);
}

/* The flat `src` first; newer firmware packs a temperature pair in one word,
 * target << 16 | current, and `arg` is the shift of this field's half. */
static void read_temp(const pd_state_field *f, void *rec, const state_in *in,
                      const json_t *packed)
{
    uint32_t u;
    if (!read_value(f, rec, json_object_get(in->o, f->src)) && read_u32(packed, &u))
        *FIELD(double, f, rec) = u >> f->arg & 0xFFFF;
}

/* device.extruder: `state`'s low nibble counts the extruders, the next one names the active
 * one (ha-bambulab); `info` holds each one by id. The active one's entry, or NULL. */
static const json_t *extruder_info(const json_t *o, uint32_t *state, int *active)
{
    const json_t *ext = DIG(o, "device", "extruder");
    *state = 0;
    read_u32(json_object_get(ext, "state"), state);
    *active = (int)(*state >> 4 & 0xF);
    return pd_report_find_id(json_object_get(ext, "info"), *active);
}

static void read_nozzle_temp(const pd_state_field *f, void *rec, const state_in *in)
{
    uint32_t state;
    int active;
    read_temp(f, rec, in, DIG(extruder_info(in->o, &state, &active), "temp"));
}

static void read_bed_temp(const pd_state_field *f, void *rec, const state_in *in)
{
    read_temp(f, rec, in, DIG(in->o, "device", "bed", "info", "temp"));
}

/* P1/A1 send a constant 5 as chamber_temper, so `src` counts only on models with a sensor;
 * device.ctc is a real reading wherever it is present */
static void read_chamber(const pd_state_field *f, void *rec, const state_in *in)
{
    bool sensor = pd_model_has_chamber_sensor(in->model);
    uint32_t u;
    if (sensor && read_value(f, rec, json_object_get(in->o, f->src)))
        return;
    if (read_u32(DIG(in->o, "device", "ctc", "info", "temp"), &u))
        *FIELD(double, f, rec) = u & 0xFFFF;
    else if (!sensor)
        *FIELD(double, f, rec) = NAN;
}

static int fan_percent(double v, double full_scale)
{
    double pct = round(v / full_scale * 100.0);
    return pct < 0 ? 0 : pct > 100 ? 100 : (int)pct;
}

/* The 0-15 step string `src`. `arg` is the fan's id in device.airduct.parts (16 part, 32 aux,
 * 48 chamber; 0 for a fan that has neither), and id / 16 - 1 its byte in fan_gear. Studio
 * prefers fan_gear (0-255 per fan) where it is set: finer than the steps. Firmware without
 * the legacy strings has only the airduct parts, already in percent. */
static void read_fan(const pd_state_field *f, void *rec, const state_in *in)
{
    int *dst = FIELD(int, f, rec);
    uint32_t gear;
    double v;
    if (f->arg && read_u32(json_object_get(in->o, "fan_gear"), &gear) && gear) {
        *dst = fan_percent((gear >> (f->arg / 16 - 1) * 8) & 0xFF, 255.0);
        return;
    }
    if (pd_report_number(json_object_get(in->o, f->src), &v))
        *dst = fan_percent(v, FAN_STEPS);
    if (!f->arg || pd_report_number(json_object_get(in->o, "cooling_fan_speed"), &v))
        return;
    const json_t *part = pd_report_find_id(DIG(in->o, "device", "airduct", "parts"), f->arg);
    if (pd_report_number(json_object_get(part, "state"), &v))
        *dst = fan_percent(v, 100.0);
}

/* "-NNdBm" */
static void read_wifi(const pd_state_field *f, void *rec, const state_in *in)
{
    const char *s = json_string_value(json_object_get(in->o, f->src));
    if (!s)
        return;
    char *end;
    long v = strtol(s, &end, 10);
    if (end != s && v < 0 && v > -200 && (!*end || !strcmp(end, "dBm")))
        *FIELD(int, f, rec) = (int)v;
}

/* `src` lists {node, mode}; the node named `alt` is on (1) or off (0) */
static void read_light(const pd_state_field *f, void *rec, const state_in *in)
{
    size_t i;
    const json_t *node;
    json_array_foreach(json_object_get(in->o, f->src), i, node) {
        const char *name = json_string_value(json_object_get(node, "node"));
        const char *mode = json_string_value(json_object_get(node, "mode"));
        if (!name || !mode || strcmp(name, f->alt))
            continue;
        if (!strcmp(mode, "off"))
            *FIELD(int, f, rec) = 0;
        else if (!strcmp(mode, "on") || !strcmp(mode, "flashing"))
            *FIELD(int, f, rec) = 1;
    }
}

/* Door sensors: H2/X2D/P2S report it in `stat`, the X1 family in `home_flag`; others have
 * no door (or no sensor). */
static void read_door(const pd_state_field *f, void *rec, const state_in *in)
{
    int *dst = FIELD(int, f, rec);
    uint64_t stat;
    uint32_t flag;
    switch (in->model) {
    case PD_MODEL_H2D: case PD_MODEL_H2DPRO: case PD_MODEL_H2C: case PD_MODEL_H2S:
    case PD_MODEL_X2D: case PD_MODEL_P2S:
        if (pd_report_hex(json_object_get(in->o, "stat"), &stat))
            *dst = (stat & DOOR_BIT) != 0;
        break;
    case PD_MODEL_X1: case PD_MODEL_X1C: case PD_MODEL_X1E:
        if (read_u32(json_object_get(in->o, "home_flag"), &flag))
            *dst = (flag & DOOR_BIT) != 0;
        break;
    default:
        *dst = -1;
        break;
    }
}

/* The flat `src`, then `alt` of device.nozzle.info, which carries the exact nozzle code;
 * id 0 is the mounted (right) one */
static void read_nozzle(const pd_state_field *f, void *rec, const state_in *in)
{
    read_value(f, rec, json_object_get(in->o, f->src));
    const json_t *n0 = pd_report_find_id(DIG(in->o, "device", "nozzle", "info"), 0);
    read_value(f, rec, json_object_get(n0, f->alt));
}

/* bit `arg` of the hex word `src` */
static void read_bit(const pd_state_field *f, void *rec, const state_in *in)
{
    uint64_t v;
    if (pd_report_hex(json_object_get(in->o, f->src), &v))
        *FIELD(bool, f, rec) = (v & (unsigned)f->arg) != 0;
}

/* "id" as "3" or 3, 0-255 */
static void read_id(const pd_state_field *f, void *rec, const state_in *in)
{
    long long id;
    if (pd_report_id(in->o, &id) && id >= 0 && id <= 255)
        *FIELD(int, f, rec) = (int)id;
}

/* An integer from 1 to `arg`, else the field stays unknown (AMS Lite has no humidity sensor
 * and sends "0"; no real AMS reads 0 %). */
static bool in_range(const pd_state_field *f, void *rec, const state_in *in)
{
    int v;
    if (!read_int(json_object_get(in->o, f->src), &v) || v < 1 || v > f->arg)
        return false;
    *FIELD(int, f, rec) = v;
    return true;
}

static void read_range(const pd_state_field *f, void *rec, const state_in *in)
{
    in_range(f, rec, in);
}

/* As read_range, but values outside happen while the AMS powers up: keep what we knew */
static void read_level(const pd_state_field *f, void *rec, const state_in *in)
{
    if (!in_range(f, rec, in) && in->prev)
        *FIELD(int, f, rec) = *CFIELD(int, f, in->prev);
}

static bool is_hex(const char *s, size_t len)
{
    return strlen(s) == len && strspn(s, "0123456789abcdefABCDEF") == len;
}

/* "RRGGBB" or "RRGGBBAA" as "#…" */
static void read_color(const pd_state_field *f, void *rec, const state_in *in)
{
    const char *c = json_string_value(json_object_get(in->o, f->src));
    char *dst = FIELD(char, f, rec);
    if (c && (is_hex(c, 8) || is_hex(c, 6))) {
        dst[0] = '#';
        copy_str(dst + 1, f->size - 1, c);
    }
}

/* RFID ids of spools without a tag are sent as all zeros. */
static void read_hex_id(const pd_state_field *f, void *rec, const state_in *in)
{
    const char *s = json_string_value(json_object_get(in->o, f->src));
    if (s && s[strspn(s, "0")])
        copy_str(FIELD(char, f, rec), f->size, s);
}

/* The slot holds a spool: tray_exist_bits where they have a bit for it, else a `src`
 * (tray_type) that is not empty. */
static void read_present(const pd_state_field *f, void *rec, const state_in *in)
{
    const char *type = json_string_value(json_object_get(in->o, f->src));
    *FIELD(bool, f, rec) = in->exist >= 0 ? in->exist : type && *type;
}

static void read_bbl(const pd_state_field *f, void *rec, const state_in *in)
{
    *FIELD(int, f, rec) = in->bbl;
}

static const pd_tray *tray_find(const pd_ams_unit *u, int id);

static const pd_ams_unit *unit_find(const pd_ams_unit *units, int n, int id)
{
    for (int i = 0; i < n; i++)
        if (units[i].id == id)
            return &units[i];
    return NULL;
}

static void read_units(const pd_state_field *f, void *rec, const state_in *in)
{
    pd_state *st = rec;
    const json_t *ams = json_object_get(in->o, f->src);
    uint64_t bits;
    bool use_bits = pd_report_hex(json_object_get(ams, "tray_exist_bits"), &bits) &&
                    (bits || json_is_true(json_object_get(ams, "power_on_flag")));
    uint64_t bbl;
    bool use_bbl = pd_report_hex(json_object_get(ams, "tray_is_bbl_bits"), &bbl);
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
        state_in u = {unit, in->model, unit_find(prev, n_prev, (int)id), use_bits ? &bits : NULL,
                      -1, use_bbl ? &bbl : NULL, -1};
        record_read_fresh(f->sub, &st->ams[st->n_ams++], &u);
    }
}

static void read_trays(const pd_state_field *f, void *rec, const state_in *in)
{
    pd_ams_unit *u = rec;
    size_t i;
    const json_t *tray;
    json_array_foreach(json_object_get(in->o, f->src), i, tray) {
        long long slot;
        if (u->n_trays == PD_MAX_TRAYS)
            break;
        if (!pd_report_id(tray, &slot))
            continue;
        int bit = pd_report_tray_bit(u->id, slot);
        int exist = in->bits && bit >= 0 ? (int)(*in->bits >> bit & 1) : -1;
        int bbl = in->bbl_bits && bit >= 0 ? (int)(*in->bbl_bits >> bit & 1) : -1;
        state_in t = {tray, in->model, NULL, NULL, exist, NULL, bbl};
        record_read_fresh(f->sub, &u->trays[u->n_trays++], &t);
    }
}

/* vir_slot's main holder (255) on printers that have holders, else vt_tray. */
static void read_external(const pd_state_field *f, void *rec, const state_in *in)
{
    pd_state *st = rec;
    const json_t *ext = pd_report_find_id(json_object_get(in->o, "vir_slot"), 255);
    if (!ext)
        ext = json_object_get(in->o, "vt_tray");
    st->has_external = json_is_object(ext);
    state_in t = {ext, in->model, NULL, NULL, -1, NULL, -1};
    record_reset(f->sub, &st->external);
    if (st->has_external)
        record_read(f->sub, &st->external, &t);
}

/* --- the tray feeding now ------------------------------------------------------------------- */

#define SNOW_NONE 0xFFFF

/* A tray in the `snow` form of the push mapping and the extruders: ams_id << 8 | slot, ams_id
 * 0xFF the external holder and 0xFE the deputy one of a dual-nozzle printer. 1 a tray, 0 none
 * (0xFFFF, a slot no unit has: the H2D's idle left extruder says 0xFEFF), -1 no number. */
static int snow_tray(const json_t *v, pd_feed *out)
{
    double d;
    if (!pd_report_number(v, &d) || d != floor(d) || d < 0 || d > SNOW_NONE)
        return -1;
    int ams = (int)d >> 8, slot = (int)d & 0xFF;
    if (ams == 0xFF || ams == 0xFE) {
        if (slot)
            return 0;
        *out = (pd_feed){PD_STATE_EXTERNAL_UNIT, ams == 0xFF ? 0 : 1};
        return 1;
    }
    if (slot >= PD_MAX_TRAYS)
        return 0;
    *out = (pd_feed){ams, slot};
    return 1;
}

/* Dual-nozzle printers: each extruder and the tray loaded in it. A report without the block
 * keeps what was known. */
static void read_extruders(const pd_state_field *f, void *rec, const state_in *in)
{
    pd_state *st = rec;
    uint32_t state;
    int active;
    extruder_info(in->o, &state, &active);
    const json_t *info = DIG(in->o, "device", "extruder", "info");
    if (!json_is_array(info))
        return;
    int n = (int)(state & 0xF);
    st->n_extruders = 0;
    for (int i = 0; n >= 2 && i < n && i < PD_MAX_EXTRUDERS; i++) {
        pd_extruder *e = &st->extruders[st->n_extruders++];
        record_reset(f->sub, e);
        e->id = i;
        snow_tray(json_object_get(pd_report_find_id(info, i), "snow"), &e->feed);
    }
}

static void unit_add(int *units, int *n, int unit)
{
    for (int i = 0; i < *n; i++)
        if (units[i] == unit)
            return;
    if (*n < PD_MAX_AMS)
        units[(*n)++] = unit;
}

/* tray_now 0-3 names a unit's own slot on the P2S and the X1C with several AMS, the A2L and the
 * H2 family (Bambuddy; the samples' mapping agrees): which unit's. `snow` is the extruder's
 * tray where the report has one, `was` the tray that fed before. */
static pd_feed local_slot(const pd_state *st, const state_in *in, int slot, const pd_feed *snow, pd_feed was)
{
    /* the extruder says it where it agrees; an external holder whatever slot tray_now names */
    if (snow && (snow->unit == PD_STATE_EXTERNAL_UNIT || snow->slot == slot))
        return *snow;
    int units[PD_MAX_AMS], n = 0;
    bool external = false;
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(in->o, "mapping"), i, m) {
        pd_feed e;
        if (snow_tray(m, &e) <= 0)
            continue;
        if (e.unit == PD_STATE_EXTERNAL_UNIT)
            external = true;
        else if (e.slot == slot)
            unit_add(units, &n, e.unit);
    }
    /* the H2S names the idle AMS slot while its external spool feeds (Bambuddy) */
    if (!n && external && in->model == PD_MODEL_H2S)
        return (pd_feed){PD_STATE_EXTERNAL_UNIT, 0};
    /* no mapping (older firmware), or a tray it does not list: the units with a spool in that
     * slot, else with such a slot at all */
    for (int pass = 0; pass < 2 && !n; pass++)
        for (int k = 0; k < st->n_ams; k++) {
            const pd_tray *tr = tray_find(&st->ams[k], slot);
            if (tr && (pass || tr->present))
                unit_add(units, &n, st->ams[k].id);
        }
    /* several fit (two units mapped with the same slot): the one that fed on, else the first */
    for (int k = 0; k < n; k++)
        if (units[k] == was.unit && slot == was.slot)
            return was;
    return (pd_feed){n ? units[0] : 0, slot};
}

/* The tray feeding now, one decoding for every model: on dual-nozzle printers the active
 * extruder's snow (as ha-bambulab reads them); else tray_now, whose 0-3 may be a unit's own
 * slot (local_slot), 4-15 unit × 4 + slot, 128-135 an AMS HT, 254 the external holder, 255
 * none (also while the tube empties before an AMS refill). */
static void read_feeding(const pd_state_field *f, void *rec, const state_in *in)
{
    pd_state *st = rec;
    pd_feed was = st->feed, snow;
    uint32_t state;
    int active;
    int has = snow_tray(json_object_get(extruder_info(in->o, &state, &active), "snow"), &snow);
    st->extruder = st->n_extruders ? active : 0;
    st->feed = (pd_feed){-1, -1};
    int t = st->tray_now;
    if (st->n_extruders && has >= 0) {
        if (has)
            st->feed = snow;
    } else if (t == 254) {
        st->feed = (pd_feed){PD_STATE_EXTERNAL_UNIT, 0};
    } else if (t >= 128 && t < 136) {
        st->feed = (pd_feed){t, 0};
    } else if (t >= 4 && t < 16) {
        st->feed = (pd_feed){t / 4, t % 4};
    } else if (t >= 0 && t < 4) {
        st->feed = local_slot(st, in, t, has > 0 ? &snow : NULL, was);
    }
}

static bool hms_seen(const pd_state *st, const pd_hms_alert *a)
{
    for (int i = 0; i < st->n_hms; i++)
        if (record_same(&pd_state_hms_fields, &st->hms[i], a))
            return true;
    return false;
}

/* A missing list keeps the alerts; entries with a zero half are not alerts. */
static void read_hms(const pd_state_field *f, void *rec, const state_in *in)
{
    pd_state *st = rec;
    const json_t *list = json_object_get(in->o, f->src);
    if (!json_is_array(list))
        return;
    st->n_hms = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e) {
        if (st->n_hms == PD_MAX_HMS)
            break;
        pd_hms_alert a;
        state_in ai = {e, in->model, NULL, NULL, -1, NULL, -1};
        record_read_fresh(f->sub, &a, &ai);
        if (a.attr && a.code && !hms_seen(st, &a))
            st->hms[st->n_hms++] = a;
    }
}

/* --- writers: API members not shown as their kind -------------------------------------------- */

static void w_on_off(pd_jw *w, const pd_state_field *f, const void *rec, pd_model model)
{
    pd_jw_str(w, *CFIELD(int, f, rec) ? "on" : "off");
}

static void w_flag(pd_jw *w, const pd_state_field *f, const void *rec, pd_model model)
{
    pd_jw_bool(w, *CFIELD(int, f, rec) != 0);
}

static void w_print_error(pd_jw *w, const pd_state_field *f, const void *rec, pd_model model)
{
    uint32_t v = *CFIELD(uint32_t, f, rec);
    char code[10];
    pd_print_error_format(v, code);
    pd_jw_open(w, '{');
    pd_jw_key(w, "code");
    pd_jw_str(w, code);
    pd_jw_key(w, "value");
    pd_jw_int(w, v);
    pd_jw_key(w, "text");
    pd_jw_str(w, pd_print_error_text(v, model));
    pd_jw_close(w, '}');
}

static void w_hms_code(pd_jw *w, const pd_state_field *f, const void *rec, pd_model model)
{
    const pd_hms_alert *a = rec;
    char code[24];
    pd_hms_format(a->attr, a->code, code);
    pd_jw_str(w, code);
}

static void w_hms_severity(pd_jw *w, const pd_state_field *f, const void *rec, pd_model model)
{
    pd_jw_int(w, pd_hms_severity(((const pd_hms_alert *)rec)->code));
}

static void w_hms_text(pd_jw *w, const pd_state_field *f, const void *rec, pd_model model)
{
    const pd_hms_alert *a = rec;
    pd_jw_str(w, pd_hms_text(a->attr, a->code, model));
}

static void w_hms_url(pd_jw *w, const pd_state_field *f, const void *rec, pd_model model)
{
    const pd_hms_alert *a = rec;
    char url[256];
    pd_hms_url(a->attr, a->code, model, url, sizeof url);
    pd_jw_str(w, *url ? url : NULL);
}

/* --- list diffs -------------------------------------------------------------------------------- */

static const pd_tray *tray_find(const pd_ams_unit *u, int id)
{
    for (int i = 0; i < u->n_trays; i++)
        if (u->trays[i].id == id)
            return &u->trays[i];
    return NULL;
}

/* A slot or unit missing on one side compares against an empty one, so a unit plugged in or
 * pulled out reports each spool it carries. Equal bytes are the common case (a report that
 * does not touch the AMS leaves its records as they were) and need no field by field look. */
static void diff_tray(differ *d, const pd_tray *a, const pd_tray *b)
{
    pd_tray empty;
    if (a && b && !memcmp(a, b, sizeof *a))
        return;
    if (!a || !b) {
        record_reset(&pd_state_tray_fields, &empty);
        empty.id = a ? a->id : b->id;
    }
    record_diff(d, &pd_state_tray_fields, a ? a : &empty, b ? b : &empty);
}

static void diff_unit(differ *d, const pd_ams_unit *a, const pd_ams_unit *b)
{
    pd_ams_unit empty;
    if (a && b && !memcmp(a, b, sizeof *a))
        return;
    if (!a || !b) {
        record_reset(&pd_state_ams_fields, &empty);
        empty.id = a ? a->id : b->id;
    }
    record_diff(d, &pd_state_ams_fields, a ? a : &empty, b ? b : &empty);
}

/* Lists compare by id, and a list in another order is still a change to what the API shows. */
static void diff_trays(differ *d, const pd_state_field *f, const void *old, const void *cur)
{
    const pd_ams_unit *o = old, *u = cur;
    d->ams_id = u->id;
    if (o->n_trays != u->n_trays)
        d->changed = true;
    for (int j = 0; j < u->n_trays; j++) {
        const pd_tray *t = tray_find(o, u->trays[j].id);
        if (t != &o->trays[j])
            d->changed = true;
        diff_tray(d, t, &u->trays[j]);
    }
    for (int j = 0; j < o->n_trays; j++)
        if (!tray_find(u, o->trays[j].id))
            diff_tray(d, &o->trays[j], NULL);
}

static void diff_units(differ *d, const pd_state_field *f, const void *old_, const void *cur_)
{
    const pd_state *old = old_, *cur = cur_;
    if (old->n_ams != cur->n_ams)
        d->changed = true;
    for (int i = 0; i < cur->n_ams; i++) {
        const pd_ams_unit *o = unit_find(old->ams, old->n_ams, cur->ams[i].id);
        if (o != &old->ams[i])
            d->changed = true;
        diff_unit(d, o, &cur->ams[i]);
    }
    for (int i = 0; i < old->n_ams; i++)
        if (!unit_find(cur->ams, cur->n_ams, old->ams[i].id))
            diff_unit(d, &old->ams[i], NULL);
}

static void diff_external(differ *d, const pd_state_field *f, const void *old_, const void *cur_)
{
    const pd_state *old = old_, *cur = cur_;
    if (!old->has_external && !cur->has_external)
        return;
    if (old->has_external != cur->has_external)
        d->changed = true;
    d->ams_id = PD_STATE_EXTERNAL_UNIT;
    diff_tray(d, old->has_external ? &old->external : NULL,
              cur->has_external ? &cur->external : NULL);
}

/* A list of records without lists of their own (the extruders), compared in order. */
static void diff_in_order(differ *d, const pd_state_field *f, const void *old, const void *cur)
{
    int n = *(const int *)((const char *)cur + f->count_off);
    if (n != *(const int *)((const char *)old + f->count_off)) {
        d->changed = true;
        return;
    }
    for (int i = 0; i < n && !d->changed; i++)
        if (!record_same(f->sub, CFIELD(char, f, old) + (size_t)i * f->sub->size,
                         CFIELD(char, f, cur) + (size_t)i * f->sub->size))
            d->changed = true;
}

static void emit_hms(differ *d, pd_event_type type, const pd_hms_alert *a)
{
    char code[24];
    pd_hms_format(a->attr, a->code, code);
    pd_event ev = *d->base;
    ev.type = type;
    ev.u.hms.code = code;
    ev.u.hms.text = pd_hms_text(a->attr, a->code, d->model);
    emit(d, &ev);
}

/* Alerts are a set: each one raised or cleared is an event. */
static void diff_hms(differ *d, const pd_state_field *f, const void *old_, const void *cur_)
{
    const pd_state *old = old_, *cur = cur_;
    for (int i = 0; i < cur->n_hms; i++)
        if (!hms_seen(old, &cur->hms[i]))
            emit_hms(d, PD_EV_HMS_RAISED, &cur->hms[i]);
    for (int i = 0; i < old->n_hms; i++)
        if (!hms_seen(cur, &old->hms[i]))
            emit_hms(d, PD_EV_HMS_CLEARED, &old->hms[i]);
    if (old->n_hms != cur->n_hms)
        d->changed = true;
    /* the same set in another order still changes what the API lists */
    for (int i = 0; i < cur->n_hms && !d->changed; i++)
        if (!record_same(f->sub, &old->hms[i], &cur->hms[i]))
            d->changed = true;
}

/* --- the tables -------------------------------------------------------------------------------- */

#define AT(T, m)      .off = offsetof(T, m), .size = sizeof(((T *)0)->m)
#define ST(m)         AT(pd_state, m)
#define AMS(m)        AT(pd_ams_unit, m)
#define TRAY(m)       AT(pd_tray, m)
#define ALERT(m)      AT(pd_hms_alert, m)
#define INT(k)        .key = (k), .kind = PD_SK_INT
#define REAL(k)       .key = (k), .kind = PD_SK_REAL
#define TEXT(k)       .key = (k), .kind = PD_SK_TEXT
#define BOOL(k)       .key = (k), .kind = PD_SK_BOOL
#define U32(k)        .key = (k), .kind = PD_SK_U32
#define GROUP(k, t)   .key = (k), .kind = PD_SK_GROUP, .sub = (t)
#define LIST(k, t, T, n) .key = (k), .kind = PD_SK_LIST, .sub = (t), .count_off = offsetof(T, n)
#define RECORD(k, t, T, has) .key = (k), .kind = PD_SK_RECORD, .sub = (t), .count_off = offsetof(T, has)
#define DERIVED(k, w) .key = (k), .kind = PD_SK_DERIVED, .write = (w)
#define GAUGE(n, h)   .metric = (n), .help = (h)
#define TABLE(T, rows) {rows, sizeof rows / sizeof *rows, sizeof(T)}

static const pd_state_field hms_rows[] = {
    {U32("code"), ALERT(code), .unknown = PD_SU_ZERO, .src = "code", .write = w_hms_code},
    {U32("attr"), ALERT(attr), .unknown = PD_SU_ZERO, .src = "attr"},
    {DERIVED("severity", w_hms_severity)},
    {DERIVED("text", w_hms_text)},
    {DERIVED("url", w_hms_url)},
};
const pd_state_table pd_state_hms_fields = TABLE(pd_hms_alert, hms_rows);

/* PD_EV_TRAY rows: what its subscribers care about, which spool is in the slot and how much */
static const pd_state_field tray_rows[] = {
    {INT("id"), TRAY(id), .read = read_id},
    {BOOL("present"), TRAY(present), .src = "tray_type", .read = read_present,
     .event = PD_EV_TRAY},
    {TEXT("type"), TRAY(type), .src = "tray_type", .event = PD_EV_TRAY},
    {TEXT("sub_brand"), TRAY(sub_brand), .src = "tray_sub_brands"},
    {TEXT("color"), TRAY(color), .src = "tray_color", .read = read_color, .event = PD_EV_TRAY},
    {INT("remain"), TRAY(remain), .unknown = PD_SU_MINUS1, .src = "remain", .event = PD_EV_TRAY,
     GAUGE("printdeck_tray_remain_percent", "Filament left on the spool in an AMS slot")},
    {TEXT("uuid"), TRAY(uuid), .src = "tray_uuid", .read = read_hex_id, .event = PD_EV_TRAY},
    {TEXT("tag_uid"), TRAY(tag_uid), .src = "tag_uid", .read = read_hex_id},
    {INT("tray_weight"), TRAY(tray_weight), .unknown = PD_SU_ZERO, .src = "tray_weight"},
    {REAL("diameter"), TRAY(diameter), .unknown = PD_SU_ZERO, .src = "tray_diameter"},
    {INT("bbl"), TRAY(bbl), .unknown = PD_SU_MINUS1, .read = read_bbl},
    {INT("nozzle_min"), TRAY(nozzle_min), .unknown = PD_SU_ZERO, .src = "nozzle_temp_min"},
    {INT("nozzle_max"), TRAY(nozzle_max), .unknown = PD_SU_ZERO, .src = "nozzle_temp_max"},
    {REAL("k"), TRAY(k), .unknown = PD_SU_ZERO, .src = "k"},
    {TEXT("info_idx"), TRAY(info_idx), .src = "tray_info_idx"},
    {TEXT("id_name"), TRAY(id_name), .src = "tray_id_name"},
};
const pd_state_table pd_state_tray_fields = TABLE(pd_tray, tray_rows);

static const pd_state_field extruder_rows[] = {
    {INT("id"), AT(pd_extruder, id)},
    {INT("unit"), AT(pd_extruder, feed.unit), .unknown = PD_SU_MINUS1},
    {INT("slot"), AT(pd_extruder, feed.slot), .unknown = PD_SU_MINUS1},
};
const pd_state_table pd_state_extruder_fields = TABLE(pd_extruder, extruder_rows);

static const pd_state_field feed_rows[] = {
    {INT("unit"), ST(feed.unit), .unknown = PD_SU_MINUS1},
    {INT("slot"), ST(feed.slot), .unknown = PD_SU_MINUS1},
    {INT("extruder"), ST(extruder)},
};
static const pd_state_table feeding = TABLE(pd_state, feed_rows);

static const pd_state_field ams_rows[] = {
    {INT("id"), AMS(id), .read = read_id},
    {INT("humidity"), AMS(humidity), .unknown = PD_SU_ZERO, .src = "humidity", .arg = 5,
     .read = read_level, GAUGE("printdeck_ams_humidity_level",
                               "AMS humidity level, 1 (wet) to 5 (dry)")},
    {INT("humidity_pct"), AMS(humidity_pct), .unknown = PD_SU_MINUS1, .src = "humidity_raw",
     .arg = 100, .read = read_range, GAUGE("printdeck_ams_humidity_percent",
                                           "AMS relative humidity")},
    {REAL("temp"), AMS(temp), .unknown = PD_SU_ZERO, .src = "temp",
     GAUGE("printdeck_ams_temp_celsius", "AMS temperature")},
    {LIST("trays", &pd_state_tray_fields, pd_ams_unit, n_trays), AMS(trays), .src = "tray",
     .read = read_trays, .diff = diff_trays},
};
const pd_state_table pd_state_ams_fields = TABLE(pd_ams_unit, ams_rows);

static const pd_state_field fan_rows[] = {
    {INT("part"), ST(fan_part), .unknown = PD_SU_MINUS1, .src = "cooling_fan_speed", .arg = 16,
     .read = read_fan},
    {INT("aux"), ST(fan_aux), .unknown = PD_SU_MINUS1, .src = "big_fan1_speed", .arg = 32,
     .read = read_fan},
    {INT("chamber"), ST(fan_chamber), .unknown = PD_SU_MINUS1, .src = "big_fan2_speed",
     .arg = 48, .read = read_fan},
    {INT("heatbreak"), ST(fan_heatbreak), .unknown = PD_SU_MINUS1,
     .src = "heatbreak_fan_speed", .read = read_fan},
};
static const pd_state_table fans = TABLE(pd_state, fan_rows);

static const pd_state_field nozzle_rows[] = {
    {REAL("diameter"), ST(nozzle_diameter), .unknown = PD_SU_ZERO, .src = "nozzle_diameter",
     .alt = "diameter", .read = read_nozzle},
    {TEXT("type"), ST(nozzle_type), .src = "nozzle_type", .alt = "type", .read = read_nozzle},
};
static const pd_state_table nozzle = TABLE(pd_state, nozzle_rows);

static const pd_state_field state_rows[] = {
    {TEXT("state"), ST(gcode_state), .src = "gcode_state", .event = PD_EV_JOB_PHASE},
    {INT("stage"), ST(stage), .src = "stg_cur"},
    {INT("progress"), ST(progress), .src = "mc_percent",
     GAUGE("printdeck_printer_progress_percent", "Progress of the current print")},
    {INT("layer"), ST(layer), .src = "layer_num", .alt = "3D", .read = read_or_inside,
     .event = PD_EV_LAYER, GAUGE("printdeck_printer_layer", "Layer being printed")},
    {INT("total_layers"), ST(total_layers), .src = "total_layer_num", .alt = "3D",
     .read = read_or_inside},
    {INT("remaining_min"), ST(remaining_min), .src = "mc_remaining_time"},
    {TEXT("subtask"), ST(subtask), .src = "subtask_name"},
    {TEXT("gcode_file"), ST(gcode_file), .src = "gcode_file"},
    {REAL("nozzle_temp"), ST(nozzle_temp), .unknown = PD_SU_NAN, .src = "nozzle_temper",
     .read = read_nozzle_temp,
     GAUGE("printdeck_printer_nozzle_temp_celsius", "Nozzle temperature")},
    {REAL("nozzle_target"), ST(nozzle_target), .unknown = PD_SU_NAN,
     .src = "nozzle_target_temper", .arg = 16, .read = read_nozzle_temp,
     GAUGE("printdeck_printer_nozzle_target_celsius", "Nozzle target temperature")},
    {REAL("bed_temp"), ST(bed_temp), .unknown = PD_SU_NAN, .src = "bed_temper",
     .read = read_bed_temp, GAUGE("printdeck_printer_bed_temp_celsius", "Bed temperature")},
    {REAL("bed_target"), ST(bed_target), .unknown = PD_SU_NAN, .src = "bed_target_temper",
     .arg = 16, .read = read_bed_temp,
     GAUGE("printdeck_printer_bed_target_celsius", "Bed target temperature")},
    {REAL("chamber_temp"), ST(chamber_temp), .unknown = PD_SU_NAN, .src = "chamber_temper",
     .read = read_chamber, GAUGE("printdeck_printer_chamber_temp_celsius",
                                 "Chamber temperature (models with a chamber sensor)")},
    {GROUP("fans", &fans)},
    {INT("speed_level"), ST(speed_level), .unknown = PD_SU_ZERO, .src = "spd_lvl"},
    {INT("speed_mag"), ST(speed_mag), .src = "spd_mag"},
    {INT("wifi_dbm"), ST(wifi_dbm), .unknown = PD_SU_ZERO, .src = "wifi_signal",
     .read = read_wifi},
    {INT("light"), ST(light), .unknown = PD_SU_MINUS1, .src = "lights_report",
     .alt = "chamber_light", .read = read_light, .write = w_on_off},
    {INT("door_open"), ST(door_open), .unknown = PD_SU_MINUS1, .read = read_door,
     .write = w_flag},
    {GROUP("nozzle", &nozzle)},
    {LIST("ams", &pd_state_ams_fields, pd_state, n_ams), ST(ams), .src = "ams",
     .read = read_units, .diff = diff_units},
    {INT("tray_now"), ST(tray_now), .src = "tray_now", .alt = "ams", .read = read_inside},
    {LIST("extruders", &pd_state_extruder_fields, pd_state, n_extruders), ST(extruders),
     .read = read_extruders, .diff = diff_in_order},
    {GROUP("feeding", &feeding), .read = read_feeding},
    {RECORD("external", &pd_state_tray_fields, pd_state, has_external), ST(external),
     .read = read_external, .diff = diff_external},
    {LIST("hms", &pd_state_hms_fields, pd_state, n_hms), ST(hms), .src = "hms",
     .read = read_hms, .diff = diff_hms},
    {U32("print_error"), ST(print_error), .unknown = PD_SU_ZERO, .src = "print_error",
     .write = w_print_error},
    {BOOL("sign_required"), ST(sign_required), .src = "fun", .arg = SIGNED_BIT,
     .read = read_bit},
};
const pd_state_table pd_state_fields = TABLE(pd_state, state_rows);

/* --- the API -------------------------------------------------------------------------------- */

void pd_state_init(pd_state *st)
{
    record_reset(&pd_state_fields, st);
    st->tray_now = 255; /* "no tray" is a value the API shows, not an unknown */
}

void pd_state_extract(pd_state *st, const json_t *p, pd_model model)
{
    if (!json_is_object(p))
        return;
    state_in in = {p, model, NULL, NULL, -1, NULL, -1};
    record_read(&pd_state_fields, st, &in);
}

void pd_state_write_json(const pd_state *st, pd_model model, pd_jw *w)
{
    record_members(w, &pd_state_fields, st, model);
}

bool pd_state_diff(const pd_state *old, const pd_state *cur, pd_model model, pd_bus *bus,
                   const pd_event *base)
{
    pd_event zero = {0};
    differ d = {bus, base ? base : &zero, model, 0, false};
    record_diff(&d, &pd_state_fields, old, cur);
    return d.changed;
}

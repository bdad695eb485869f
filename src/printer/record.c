#include "printer/record.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "camera/timelapse.h"
#include "core/jw.h"
#include "ha/inbound.h"
#include "printer/model.h"

/* REC_OPT_INT and REC_TRI (a yes/no as an int: 0, 1) may be PD_REC_UNSET: null (JSON), ""
 * (text) */
typedef enum rec_type { REC_STR, REC_INT, REC_BOOL, REC_SOURCE, REC_OPT_INT, REC_TRI } rec_type;

typedef enum rec_owner {
    REC_ANY,
    REC_LINK,  /* the MQTT link's: a Home Assistant printer has none */
    REC_HA     /* Home Assistant's API's: only a Home Assistant printer's */
} rec_owner;

typedef struct rec_field {
    const char *name;
    rec_type type;
    bool required;
    const char *def;                     /* default in text form; NULL = empty */
    long min, max;                       /* text length in bytes, or integer range */
    size_t off, size;                    /* where it goes in pd_printer_rec */
    bool (*check)(char *v, size_t size); /* extra rule for a text; may normalise it */
    const char *rule;                    /* the rule in words, after "must be" */
    rec_owner owner;
} rec_field;

static bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* The serial names the MQTT topics (device/SERIAL/report, Doridian/OpenBambuAPI mqtt.md), so
 * an MQTT wildcard in it (`+`, `#`, OASIS MQTT 3.1.1 §4.7.1) or a `/` would subscribe to other
 * printers' topics on a shared broker. Bambu serials are letters and digits, 15 of them on
 * every model so far (an X1C's 00M09A391501288 in greghesp/ha-bambulab's card, a P1S's
 * 01P00A451200002); 8-31 leaves room for other generations. Printers answer to the serial in
 * capitals (the certificate's CN), so it is kept upper-cased and `ac8238…` is the same
 * printer as `AC8238…`. At least one letter: a path's {id} is a serial only when it cannot
 * be a numeric id. */
static bool serial_ok(char *v, size_t size)
{
    (void)size;
    bool letter = false;
    for (; *v; v++) {
        if (is_alpha(*v))
            letter = true;
        else if (!is_digit(*v))
            return false;
        if (*v >= 'a' && *v <= 'z')
            *v = (char)(*v - 'a' + 'A');
    }
    return letter;
}

/* RFC 1123 §2.1 host name: dot-separated labels of letters, digits and inner hyphens, up to
 * 63 bytes each (the table bounds the whole at 253). Its top label is never all digits ("a
 * valid host name can never have the dotted-decimal form #.#.#.#"), so a malformed address
 * such as 256.256.256.256 does not pass as a name. */
static bool hostname_ok(const char *v)
{
    size_t label = 0;
    bool top_has_letter = false;
    char prev = '.';
    for (const char *p = v; *p; prev = *p++) {
        if (*p == '.') {
            if (!label || prev == '-')
                return false;
            label = 0;
            top_has_letter = false;
        } else if (is_alpha(*p) || is_digit(*p) || (*p == '-' && label)) {
            if (++label > 63)
                return false;
            top_has_letter |= !is_digit(*p);
        } else {
            return false;
        }
    }
    return label && prev != '-' && top_has_letter;
}

static bool host_ok(char *v, size_t size)
{
    (void)size;
    unsigned char bin[16];
    return inet_pton(AF_INET, v, bin) == 1 || inet_pton(AF_INET6, v, bin) == 1 || hostname_ok(v);
}

/* A relay's address, or "" for the printer's own */
static bool camera_host_ok(char *v, size_t size) { return !*v || host_ok(v, size); }

/* Stored as the model table's key ("P1S") whatever alias was given; "" = detect. */
static bool model_ok(char *v, size_t size)
{
    if (!*v)
        return true;
    pd_model m = pd_model_parse(v);
    if (m == PD_MODEL_UNKNOWN)
        return false;
    snprintf(v, size, "%s", pd_model_key(m));
    return true;
}

/* Home Assistant's object ids (https://www.home-assistant.io/docs/configuration/customizing-devices/):
 * lower-case letters, digits and underscores. */
static bool object_id_ok(const char *v, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(is_digit(v[i]) || (v[i] >= 'a' && v[i] <= 'z') || v[i] == '_'))
            return false;
    return true;
}

static bool ha_device_ok(char *v, size_t size)
{
    (void)size;
    return !*v || object_id_ok(v, strlen(v));
}

/* An entity id, DOMAIN.OBJECT_ID, or "" for the default. */
static bool entity_ok(char *v, size_t size)
{
    (void)size;
    const char *dot = strchr(v, '.');
    return !*v || (dot && object_id_ok(v, (size_t)(dot - v)) && object_id_ok(dot + 1, strlen(dot + 1)));
}

/* The AMS trays' entity ids as one pattern: an entity id with {unit} and {tray} (1-4) in it. */
static bool ams_pattern_ok(char *v, size_t size)
{
    char id[128];
    const char *u = strstr(v, "{unit}"), *t = strstr(v, "{tray}");
    if (!*v)
        return true;
    if (!u || !t || strstr(u + 1, "{unit}") || strstr(t + 1, "{tray}"))
        return false;
    snprintf(id, sizeof id, "%s", v);
    for (char *p; (p = strchr(id, '{'));)
        memmove(p + 1, p + 6, strlen(p + 6) + 1), *p = '1';
    return entity_ok(id, size);
}

/* Home Assistant's webhooks' rule for their global secret, for a printer's own; "" = none */
static bool webhook_secret_ok(char *v, size_t size)
{
    (void)size;
    char err[8];
    return !pd_ha_check_secret(v, err, sizeof err);
}

/* [timelapse] mode's rule, or "" for it */
static bool timelapse_mode_ok(char *v, size_t size)
{
    (void)size;
    char err[64];
    return !*v || !pd_tl_mode_check(v, err, sizeof err);
}

#define REC(member) offsetof(pd_printer_rec, member), sizeof ((pd_printer_rec *)0)->member

static const rec_field fields[] = {
    {"name", REC_STR, true, NULL, 1, 63, REC(name), NULL, "1-63 bytes of text", REC_ANY},
    {"serial", REC_STR, true, NULL, 8, 31, REC(serial), serial_ok,
     "8-31 letters and digits, one at least a letter", REC_ANY},
    {"host", REC_STR, true, NULL, 1, 253, REC(host), host_ok,
     "an IPv4 address (four numbers 0-255), an IPv6 address or a DNS name (RFC 1123, up to "
     "253 bytes)", REC_LINK},
    {"port", REC_INT, false, "8883", 1, 65535, REC(port), NULL, "a whole number from 1 to 65535", REC_ANY},
    {"ftps_port", REC_INT, false, "990", 1, 65535, REC(ftps_port), NULL,
     "a whole number from 1 to 65535", REC_ANY},
    {"access_code", REC_STR, true, NULL, 1, 63, REC(access_code), NULL, "1-63 bytes of text", REC_LINK},
    {"model", REC_STR, false, NULL, 0, 31, REC(model), model_ok,
     "a known model such as P1S, X1C, A1 mini or H2D; empty to detect it", REC_ANY},
    {"ca_file", REC_STR, false, NULL, 0, 255, REC(ca_file), NULL,
     "a file path of up to 255 bytes; empty for the Bambu CA", REC_ANY},
    {"tls_verify", REC_BOOL, false, "true", 0, 1, REC(tls_verify), NULL, "true or false", REC_ANY},
    {"camera_host", REC_STR, false, NULL, 0, 253, REC(camera_host), camera_host_ok,
     "an IPv4 or IPv6 address or a DNS name of a camera relay; empty for the printer's host", REC_ANY},
    {"camera_port", REC_INT, false, "0", 0, 65535, REC(camera_port), NULL,
     "a whole number from 0 to 65535; 0 for the model's (6000, or 322 for RTSPS)", REC_ANY},
    {"camera_enabled", REC_BOOL, false, "true", 0, 1, REC(camera_enabled), NULL, "true or false", REC_ANY},
    {"source", REC_SOURCE, false, "mqtt", 0, 0, REC(source), NULL,
     "mqtt (its own link) or homeassistant (followed through Home Assistant)", REC_ANY},
    {"ha_device", REC_STR, false, NULL, 0, 63, REC(ha_device), ha_device_ok,
     "the ha-bambulab device's entity prefix (bambu_lab_p1s): lower-case letters, digits and _", REC_HA},
#define HA_ENTITY(key, member, def)                                                                 \
    {key, REC_STR, false, NULL, 0, 95, REC(member), entity_ok,                                      \
     "an entity id (sensor.NAME) of up to 95 bytes; empty for " def, REC_HA}
    HA_ENTITY("ha_print_status", ha_print_status, "sensor.DEVICE_print_status"),
    HA_ENTITY("ha_task_name", ha_task_name, "sensor.DEVICE_task_name"),
    HA_ENTITY("ha_gcode_file", ha_gcode_file, "sensor.DEVICE_gcode_filename"),
    HA_ENTITY("ha_print_progress", ha_print_progress, "sensor.DEVICE_print_progress"),
    HA_ENTITY("ha_current_layer", ha_current_layer, "sensor.DEVICE_current_layer"),
    HA_ENTITY("ha_total_layers", ha_total_layers, "sensor.DEVICE_total_layer_count"),
    HA_ENTITY("ha_active_tray", ha_active_tray, "sensor.DEVICE_active_tray_index"),
#undef HA_ENTITY
    {"ha_ams_tray", REC_STR, false, NULL, 0, 95, REC(ha_ams_tray), ams_pattern_ok,
     "an entity id with {unit} and {tray} in it (sensor.NAME_ams_{unit}_tray_{tray}); empty for "
     "sensor.DEVICE_ams_{unit}_tray_{tray}", REC_HA},
    {"webhook_secret", REC_STR, false, NULL, 0, 128, REC(webhook_secret), webhook_secret_ok,
     "16-128 printable characters without spaces, the secret of Home Assistant's webhooks naming "
     "this printer; empty for [homeassistant] webhook_secret", REC_ANY},
    {"timelapse_enabled", REC_TRI, false, NULL, 0, 1, REC(timelapse_enabled), NULL,
     "true or false; null for [timelapse] enabled", REC_ANY},
    {"timelapse_mode", REC_STR, false, NULL, 0, 11, REC(timelapse_mode), timelapse_mode_ok,
     "layer or interval; null for [timelapse] mode", REC_ANY},
    {"timelapse_interval_s", REC_OPT_INT, false, NULL, 1, 3600, REC(timelapse_interval_s), NULL,
     "a whole number of seconds from 1 to 3600; null for [timelapse] interval_s", REC_ANY},
    {"timelapse_fps", REC_OPT_INT, false, NULL, 1, 120, REC(timelapse_fps), NULL,
     "a whole number from 1 to 120; null for [timelapse] fps", REC_ANY},
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static const rec_field *field_find(const char *name)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (!strcmp(fields[i].name, name))
            return &fields[i];
    return NULL;
}

static bool has_control_chars(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

static bool may_unset(const rec_field *f) { return f->type == REC_OPT_INT || f->type == REC_TRI; }

/* The store_* helpers put one value into rec: NULL when it fits, else what it must be. `v`
 * may be the field itself (pd_printer_rec_check). */
static const char *store_str(pd_printer_rec *rec, const rec_field *f, const char *v, size_t len)
{
    char *dst = (char *)rec + f->off;
    if (strlen(v) != len || len < (size_t)f->min || len > (size_t)f->max || len >= f->size)
        return f->rule;
    if (has_control_chars(v, len))
        return "text without control characters";
    memmove(dst, v, len);
    dst[len] = '\0';
    return f->check && !f->check(dst, f->size) ? f->rule : NULL;
}

static const char *store_int(pd_printer_rec *rec, const rec_field *f, long long n)
{
    if ((n < f->min || n > f->max) && !(may_unset(f) && n == PD_REC_UNSET))
        return f->rule;
    *(int *)((char *)rec + f->off) = (int)n;
    return NULL;
}

static const char *store_bool(pd_printer_rec *rec, const rec_field *f, bool b)
{
    if (f->type == REC_TRI)
        return store_int(rec, f, b);
    *(bool *)((char *)rec + f->off) = b;
    return NULL;
}

static const char *store_source(pd_printer_rec *rec, const rec_field *f, const char *v)
{
    if (!strcmp(v, "mqtt"))
        rec->source = PD_PRINTER_MQTT;
    else if (!strcmp(v, "homeassistant"))
        rec->source = PD_PRINTER_HA;
    else
        return f->rule;
    return NULL;
}

static pd_err field_error(const rec_field *f, const char *must, char *err, size_t errlen)
{
    if (!must)
        return PD_OK;
    snprintf(err, errlen, "%s: must be %s", f->name, must);
    return PD_ERR_INVAL;
}

static pd_err unknown_key(const char *key, char *err, size_t errlen)
{
    int n = snprintf(err, errlen, "%.*s: unknown; a printer has", pd_jw_utf8_cut(key, 64), key);
    for (size_t i = 0; i < N_FIELDS && n > 0 && (size_t)n < errlen; i++)
        n += snprintf(err + n, errlen - (size_t)n, "%s %s", i ? "," : "", fields[i].name);
    return PD_ERR_INVAL;
}

void pd_printer_rec_init(pd_printer_rec *rec)
{
    char err[128];
    memset(rec, 0, sizeof *rec);
    for (size_t i = 0; i < N_FIELDS; i++)
        if (fields[i].def || may_unset(&fields[i]))
            pd_printer_rec_set_text(rec, fields[i].name, fields[i].def ? fields[i].def : "", err, sizeof err);
}

pd_err pd_printer_rec_set_json(pd_printer_rec *rec, const char *key, const json_t *v, char *err,
                               size_t errlen)
{
    const rec_field *f = field_find(key);
    if (!f)
        return unknown_key(key, err, errlen);
    const char *must = f->rule;
    switch (f->type) {
    case REC_STR:
        if (json_is_null(v) && !f->required)
            must = store_str(rec, f, "", 0);
        else if (json_is_string(v))
            must = store_str(rec, f, json_string_value(v), json_string_length(v));
        break;
    case REC_INT:
    case REC_OPT_INT:
    case REC_BOOL:
    case REC_TRI:
        if (json_is_null(v) && may_unset(f))
            must = store_int(rec, f, PD_REC_UNSET);
        else if (json_is_integer(v) && (f->type == REC_INT || f->type == REC_OPT_INT))
            must = store_int(rec, f, json_integer_value(v));
        else if (json_is_boolean(v) && (f->type == REC_BOOL || f->type == REC_TRI))
            must = store_bool(rec, f, json_is_true(v));
        break;
    case REC_SOURCE:
        if (json_is_string(v))
            must = store_source(rec, f, json_string_value(v));
        break;
    }
    return field_error(f, must, err, errlen);
}

pd_err pd_printer_rec_set_text(pd_printer_rec *rec, const char *key, const char *v, char *err,
                               size_t errlen)
{
    const rec_field *f = field_find(key);
    if (!f)
        return unknown_key(key, err, errlen);
    const char *must = f->rule;
    switch (f->type) {
    case REC_STR:
        must = store_str(rec, f, v, strlen(v));
        break;
    case REC_INT:
    case REC_OPT_INT: {
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (!*v && may_unset(f))
            must = store_int(rec, f, PD_REC_UNSET);
        else if (!errno && end != v && !*end)
            must = store_int(rec, f, n);
        break;
    }
    case REC_BOOL:
    case REC_TRI: {
        bool b;
        if (!*v && may_unset(f))
            must = store_int(rec, f, PD_REC_UNSET);
        else if (!pd_config_parse_bool(v, &b))
            must = store_bool(rec, f, b);
        break;
    }
    case REC_SOURCE:
        must = store_source(rec, f, v);
        break;
    }
    return field_error(f, must, err, errlen);
}

pd_err pd_printer_rec_check(pd_printer_rec *rec, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        const rec_field *f = &fields[i];
        const char *must = NULL;
        const char *at = (const char *)rec + f->off;
        switch (f->type) {
        case REC_STR:
            if (f->owner == REC_LINK && rec->source == PD_PRINTER_HA && !at[0])
                break;
            if (f->owner == REC_HA && rec->source != PD_PRINTER_HA && at[0]) {
                snprintf(err, errlen, "%s: only for a printer with source homeassistant", f->name);
                return PD_ERR_INVAL;
            }
            if (f->required && !at[0]) {
                snprintf(err, errlen, "%s: required", f->name);
                return PD_ERR_INVAL;
            }
            must = store_str(rec, f, at, strnlen(at, f->size));
            break;
        case REC_INT:
        case REC_OPT_INT:
        case REC_TRI:
            must = store_int(rec, f, *(const int *)at);
            break;
        case REC_BOOL:
        case REC_SOURCE:
            break;
        }
        if (must)
            return field_error(f, must, err, errlen);
    }
    /* webhooks make their printers with ha_id; one followed through the API needs its device */
    if (rec->source == PD_PRINTER_HA && !rec->ha_id[0] && !rec->ha_device[0]) {
        snprintf(err, errlen, "ha_device: required for a printer with source homeassistant (the "
                 "ha-bambulab device's entity prefix, e.g. bambu_lab_p1s)");
        return PD_ERR_INVAL;
    }
    return PD_OK;
}

void pd_printer_rec_help(FILE *out, const char *indent)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        const rec_field *f = &fields[i];
        char when[32];
        snprintf(when, sizeof when, "%s%s", f->required ? "required" : f->def ? "default " : "optional",
                 !f->required && f->def ? f->def : "");
        fprintf(out, "%s%-12s %-13s %s\n", indent, f->name, when, f->rule);
    }
}

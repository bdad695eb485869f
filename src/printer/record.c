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
typedef enum rec_type { REC_STR, REC_INT, REC_BOOL, REC_OPT_INT, REC_TRI } rec_type;

typedef struct rec_field {
    const char *name;
    rec_type type;
    bool required;
    const char *def;                     /* default in text form; NULL = empty */
    long min, max;                       /* text length in bytes, or integer range */
    size_t off, size;                    /* where it goes in pd_printer_rec */
    bool (*check)(char *v, size_t size); /* extra rule for a text; may normalise it */
    const char *rule;                    /* the rule in words, after "must be" */
    bool link;                           /* the MQTT link's: a Home Assistant printer has none */
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
    {"name", REC_STR, true, NULL, 1, 63, REC(name), NULL, "1-63 bytes of text", false},
    {"serial", REC_STR, true, NULL, 8, 31, REC(serial), serial_ok,
     "8-31 letters and digits, one at least a letter", false},
    {"host", REC_STR, true, NULL, 1, 253, REC(host), host_ok,
     "an IPv4 address (four numbers 0-255), an IPv6 address or a DNS name (RFC 1123, up to "
     "253 bytes)", true},
    {"port", REC_INT, false, "8883", 1, 65535, REC(port), NULL, "a whole number from 1 to 65535", false},
    {"ftps_port", REC_INT, false, "990", 1, 65535, REC(ftps_port), NULL,
     "a whole number from 1 to 65535", false},
    {"access_code", REC_STR, true, NULL, 1, 63, REC(access_code), NULL, "1-63 bytes of text", true},
    {"model", REC_STR, false, NULL, 0, 31, REC(model), model_ok,
     "a known model such as P1S, X1C, A1 mini or H2D; empty to detect it", false},
    {"ca_file", REC_STR, false, NULL, 0, 255, REC(ca_file), NULL,
     "a file path of up to 255 bytes; empty for the Bambu CA", false},
    {"tls_verify", REC_BOOL, false, "true", 0, 1, REC(tls_verify), NULL, "true or false", false},
    {"camera_host", REC_STR, false, NULL, 0, 253, REC(camera_host), camera_host_ok,
     "an IPv4 or IPv6 address or a DNS name of a camera relay; empty for the printer's host", false},
    {"camera_port", REC_INT, false, "0", 0, 65535, REC(camera_port), NULL,
     "a whole number from 0 to 65535; 0 for the model's (6000, or 322 for RTSPS)", false},
    {"camera_enabled", REC_BOOL, false, "true", 0, 1, REC(camera_enabled), NULL, "true or false", false},
    {"webhook_secret", REC_STR, false, NULL, 0, 128, REC(webhook_secret), webhook_secret_ok,
     "16-128 printable characters without spaces, the secret of Home Assistant's webhooks naming "
     "this printer; empty for [homeassistant] webhook_secret", false},
    {"timelapse_enabled", REC_TRI, false, NULL, 0, 1, REC(timelapse_enabled), NULL,
     "true or false; null for [timelapse] enabled", false},
    {"timelapse_mode", REC_STR, false, NULL, 0, 11, REC(timelapse_mode), timelapse_mode_ok,
     "layer or interval; null for [timelapse] mode", false},
    {"timelapse_interval_s", REC_OPT_INT, false, NULL, 1, 3600, REC(timelapse_interval_s), NULL,
     "a whole number of seconds from 1 to 3600; null for [timelapse] interval_s", false},
    {"timelapse_fps", REC_OPT_INT, false, NULL, 1, 120, REC(timelapse_fps), NULL,
     "a whole number from 1 to 120; null for [timelapse] fps", false},
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
            if (f->link && rec->source == PD_PRINTER_HA && !at[0])
                break;
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
            break;
        }
        if (must)
            return field_error(f, must, err, errlen);
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

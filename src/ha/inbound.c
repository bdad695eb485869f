#include "ha/inbound.h"

#include <ctype.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "track/jobs.h"

/* A value's text with the blanks a template leaves around it cut off, in buf; NULL when the
 * value is not text or too long for buf. */
static const char *trimmed(const json_t *v, char *buf, size_t n)
{
    const char *s = json_string_value(v);
    if (!s)
        return NULL;
    size_t len = json_string_length(v);
    while (len && isspace((unsigned char)*s))
        s++, len--;
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (len >= n || memchr(s, '\0', len))
        return NULL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return buf;
}

/* What Home Assistant sends for "nothing": null, no member, or a template's rendering of
 * none or of an entity it cannot read. */
static bool absent(const json_t *v)
{
    static const char *const nothing[] = {"", "none", "null", "unknown", "unavailable"};
    char buf[16];
    const char *s;
    if (!v || json_is_null(v))
        return true;
    if (!(s = trimmed(v, buf, sizeof buf)))
        return false;
    for (size_t i = 0; i < sizeof nothing / sizeof *nothing; i++)
        if (!strcasecmp(s, nothing[i]))
            return true;
    return false;
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* A whole number from JSON or from a template's text ("2", " 2 ", "2.0"). */
static bool whole(const json_t *v, long min, long max, long *out)
{
    double d;
    char buf[32], *end;
    const char *s;
    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if ((s = trimmed(v, buf, sizeof buf)) && *s) {
        d = strtod(s, &end);
        if (*end)
            return false;
    } else {
        return false;
    }
    if (!isfinite(d) || d != floor(d) || d < min || d > max)
        return false;
    *out = (long)d;
    return true;
}

static pd_err fail(const char **field, const char *name, char *why, size_t whylen, const char *must)
{
    *field = name;
    snprintf(why, whylen, "%s", must);
    return PD_ERR_FIELD;
}

/* printer_id: the text (or number) Home Assistant's automation names the printer by. */
static bool read_printer_id(const json_t *body, char *out, const char **field, char *why, size_t whylen,
                            pd_err *rc)
{
    const json_t *v = json_object_get(body, "printer_id");
    long n;
    if (json_is_integer(v) && whole(v, 0, 999999999999L, &n)) {
        snprintf(out, PD_HA_ID_MAX + 1, "%ld", n);
        return true;
    }
    char buf[PD_HA_ID_MAX + 1];
    const char *s = absent(v) ? NULL : trimmed(v, buf, sizeof buf);
    if (!s || !*s || !printable(s)) {
        *rc = fail(field, "printer_id", why, whylen,
                   absent(v) ? "required" : "must be 1-63 bytes of text without control characters");
        return false;
    }
    snprintf(out, PD_HA_ID_MAX + 1, "%s", s);
    return true;
}

/* What every payload begins with: an object, and in it the printer_id. */
static bool read_head(const json_t *body, char *printer_id, const char **field, char *why, size_t whylen,
                      pd_err *rc)
{
    if (json_is_object(body))
        return read_printer_id(body, printer_id, field, why, whylen, rc);
    *field = "body";
    snprintf(why, whylen, "must be a JSON object");
    *rc = PD_ERR_INVAL;
    return false;
}

bool pd_ha_payload_printer_id(const json_t *body, char out[PD_HA_ID_MAX + 1])
{
    const char *field;
    char why[8];
    pd_err rc;
    return read_head(body, out, &field, why, sizeof why, &rc);
}

/* An optional whole number: *out -1 when absent. */
static bool read_optional(const json_t *body, const char *name, long min, long max, int *out,
                          const char **field, char *why, size_t whylen, pd_err *rc)
{
    const json_t *v = json_object_get(body, name);
    long n;
    *out = -1;
    if (absent(v))
        return true;
    if (!whole(v, min, max, &n)) {
        char must[64];
        snprintf(must, sizeof must, "must be a whole number from %ld to %ld", min, max);
        *rc = fail(field, name, why, whylen, must);
        return false;
    }
    *out = (int)n;
    return true;
}

/* Home Assistant's words for a print's state - the ha-bambulab integration's print_status
 * (the printer's gcode_state in lower case), the seed's PRINTING, and plain English - and the
 * gcode_state each means. */
static const struct {
    const char *word, *state;
    bool cancelled;
} STATUSES[] = {
    {"printing", "RUNNING", false},  {"running", "RUNNING", false},   {"prepare", "PREPARE", false},
    {"preparing", "PREPARE", false}, {"slicing", "PREPARE", false},   {"init", "PREPARE", false},
    {"pause", "PAUSE", false},       {"paused", "PAUSE", false},      {"finish", "FINISH", false},
    {"finished", "FINISH", false},   {"complete", "FINISH", false},   {"completed", "FINISH", false},
    {"success", "FINISH", false},    {"failed", "FAILED", false},     {"fail", "FAILED", false},
    {"failure", "FAILED", false},    {"error", "FAILED", false},      {"cancelled", "FAILED", true},
    {"canceled", "FAILED", true},    {"cancel", "FAILED", true},      {"stopped", "FAILED", true},
    {"idle", "IDLE", false},         {"offline", "", false},          {"unknown", "", false},
    {"unavailable", "", false},
};

static bool read_status(const json_t *body, pd_ha_print_event *e)
{
    char buf[16];
    const char *s = trimmed(json_object_get(body, "status"), buf, sizeof buf);
    for (size_t i = 0; s && i < sizeof STATUSES / sizeof *STATUSES; i++)
        if (!strcasecmp(s, STATUSES[i].word)) {
            snprintf(e->state, sizeof e->state, "%s", STATUSES[i].state);
            e->cancelled = STATUSES[i].cancelled;
            return true;
        }
    return false;
}

/* The tray the print feeds from, in Home Assistant's numbering: both or neither. */
static bool read_tray(const json_t *body, int *unit, int *slot, const char **field, char *why,
                      size_t whylen, pd_err *rc)
{
    if (!read_optional(body, "ams_unit_number", 1, 4, unit, field, why, whylen, rc) ||
        !read_optional(body, "slot_number", 1, 4, slot, field, why, whylen, rc))
        return false;
    if ((*unit < 0) != (*slot < 0)) {
        *rc = fail(field, *unit < 0 ? "ams_unit_number" : "slot_number", why, whylen,
                   "required with the other: the AMS unit (1-4) and its slot (1-4)");
        return false;
    }
    if (*unit > 0)
        --*unit, --*slot;
    return true;
}

pd_err pd_ha_parse_print_event(const json_t *body, pd_ha_print_event *out, const char **field,
                               char *why, size_t whylen)
{
    pd_ha_print_event e = {.progress = -1};
    pd_err rc = PD_ERR_FIELD;
    if (!read_head(body, e.printer_id, field, why, whylen, &rc))
        return rc;
    if (!read_status(body, &e))
        return fail(field, "status", why, whylen,
                    "must be a print state: printing, running, prepare, pause, finish, completed, "
                    "failed, cancelled, idle (any case), or offline/unknown/unavailable");
    const json_t *f = json_object_get(body, "gcode_file_name");
    char buf[PD_HA_FILE_MAX + 1];
    if (!absent(f)) {
        const char *s = trimmed(f, buf, sizeof buf);
        if (!s || !printable(s))
            return fail(field, "gcode_file_name", why, whylen,
                        "must be at most 255 bytes of text without control characters");
        snprintf(e.file, sizeof e.file, "%s", s);
    }
    if (!read_optional(body, "progress", 0, 100, &e.progress, field, why, whylen, &rc) ||
        !read_optional(body, "current_layer", 0, 100000, &e.layer, field, why, whylen, &rc) ||
        !read_optional(body, "total_layers", 0, 100000, &e.total_layers, field, why, whylen, &rc) ||
        !read_tray(body, &e.unit, &e.slot, field, why, whylen, &rc))
        return rc;
    *out = e;
    return PD_OK;
}

#define CHANNELS_RULE "must be [r, g, b] (3 or 4 channels from 0 to 255, or their text) or hex RRGGBB / RRGGBBAA"

/* The channels of a list's text "[r, g, b]" / "(r, g, b)": how many, 0 when malformed. */
static size_t channels_of_text(char *s, long c[4])
{
    size_t len = strlen(s), n = 0;
    if (len < 2 || s[len - 1] != (s[0] == '[' ? ']' : ')'))
        return 0;
    s[len - 1] = '\0';
    for (char *p = s + 1;; n++) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < 0 || x > 255 || n == 4)
            return 0;
        c[n] = x;
        for (p = end; isspace((unsigned char)*p); p++)
            ;
        if (!*p)
            return n + 1;
        if (*p++ != ',')
            return 0;
    }
}

static bool color_of_hex(const char *s, char out[9])
{
    s += *s == '#';
    size_t len = strlen(s);
    if ((len != 6 && len != 8) || strspn(s, "0123456789abcdefABCDEF") != len)
        return false;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)toupper((unsigned char)s[i]);
    memcpy(out + len, "FF", len == 6 ? 3 : 1);
    out[8] = '\0';
    return true;
}

/* Home Assistant's rgb_color attribute (a list, or its text when a template renders it), or a
 * hex colour such as ha-bambulab's tray colour "#FF0000FF". */
static bool read_color(const json_t *v, char out[9])
{
    long c[4] = {0, 0, 0, 255};
    size_t n = 0;
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        if (json_array_size(v) < 3 || json_array_size(v) > 4)
            return false;
        json_array_foreach(v, i, e)
            if (!whole(e, 0, 255, &c[n++]))
                return false;
    } else {
        char buf[64];
        char *s = (char *)trimmed(v, buf, sizeof buf);
        if (!s)
            return false;
        if (*s != '[' && *s != '(')
            return color_of_hex(s, out);
        if ((n = channels_of_text(s, c)) < 3)
            return false;
    }
    snprintf(out, 9, "%02lX%02lX%02lX%02lX", c[0], c[1], c[2], c[3]);
    return true;
}

pd_err pd_ha_parse_ams_update(const json_t *body, pd_ha_ams_update *out, const char **field,
                              char *why, size_t whylen)
{
    pd_ha_ams_update u = {.remain = -1};
    pd_err rc = PD_ERR_FIELD;
    if (!read_head(body, u.printer_id, field, why, whylen, &rc) ||
        !read_tray(body, &u.unit, &u.slot, field, why, whylen, &rc))
        return rc;
    if (u.unit < 0)
        return fail(field, "ams_unit_number", why, whylen,
                    "required: the AMS unit (1-4) and its slot_number (1-4), as in the entity "
                    "sensor.…_ams_1_slot_2_color");
    const json_t *c = json_object_get(body, "color");
    if ((u.has_color = !absent(c)) && !read_color(c, u.color))
        return fail(field, "color", why, whylen, CHANNELS_RULE);
    const json_t *m = json_object_get(body, "material");
    if ((u.has_material = !absent(m))) {
        const char *s = trimmed(m, u.material, sizeof u.material);
        if (!s || !*s || !printable(s))
            return fail(field, "material", why, whylen,
                        "must be 1-31 bytes of text (PLA, PETG, …), or Empty for an empty slot");
        if (!strcasecmp(s, "empty"))
            u.material[0] = '\0';
    }
    /* ha-bambulab says -1 when the AMS does not know */
    const json_t *r = json_object_get(body, "remain");
    long n;
    if (!absent(r) && !(whole(r, -1, -1, &n) || whole(r, 0, 100, &n)))
        return fail(field, "remain", why, whylen, "must be a whole number from 0 to 100 (or -1: unknown)");
    u.remain = absent(r) ? -1 : (int)n;
    if (!u.has_color && !u.has_material && u.remain < 0)
        return fail(field, "color", why, whylen, "color, material or remain is required: the slot's news");
    *out = u;
    return PD_OK;
}

/* --- the partial reports -------------------------------------------------------------------- */

/* The job's name as a printer gives it in subtask_name: the file's name without its folder
 * and its slicer's extension. */
static void task_name(const char *file, char *out, size_t n)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t len = strlen(base);
    static const char *const ext[] = {".gcode.3mf", ".3mf", ".gcode"};
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t e = strlen(ext[i]);
        if (len > e && !strcasecmp(base + len - e, ext[i])) {
            len -= e;
            break;
        }
    }
    snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), base);
}

static int set_int(json_t *o, const char *key, int v)
{
    return v < 0 ? 0 : json_object_set_new(o, key, json_integer(v));
}

json_t *pd_ha_print_event_report(const pd_ha_print_event *e)
{
    json_t *r = json_object();
    if (!r || !e->state[0])
        return r;
    /* the stop code with FAILED is how a printer says a person cancelled (docs/jobs.md); any
     * other state clears it, as the printer's own reports do */
    int bad = json_object_set_new(r, "gcode_state", json_string(e->state)) |
              json_object_set_new(r, "print_error", json_integer(e->cancelled ? PD_JOBS_CANCEL_ERROR : 0));
    if (e->file[0]) {
        char name[PD_HA_FILE_MAX + 1];
        task_name(e->file, name, sizeof name);
        bad |= json_object_set_new(r, "gcode_file", json_string(e->file)) |
               json_object_set_new(r, "subtask_name", json_string(name));
    }
    bad |= set_int(r, "mc_percent", e->progress) | set_int(r, "layer_num", e->layer) |
           set_int(r, "total_layer_num", e->total_layers);
    if (e->unit >= 0) {
        /* where the printer says it: inside "ams", as text (docs/bambu-protocol.md) */
        char tray[4];
        snprintf(tray, sizeof tray, "%d", e->unit * 4 + e->slot);
        bad |= json_object_set_new(r, "ams", json_pack("{s:s}", "tray_now", tray));
    }
    if (bad) {
        json_decref(r);
        return NULL;
    }
    return r;
}

json_t *pd_ha_ams_update_report(const pd_ha_ams_update *u)
{
    char unit[4], slot[4];
    snprintf(unit, sizeof unit, "%d", u->unit);
    snprintf(slot, sizeof slot, "%d", u->slot);
    json_t *tray = json_pack("{s:s}", "id", slot);
    int bad = !tray;
    if (tray && u->has_material)
        bad |= json_object_set_new(tray, "tray_type", json_string(u->material));
    if (tray && u->has_color)
        bad |= json_object_set_new(tray, "tray_color", json_string(u->color));
    if (tray)
        bad |= set_int(tray, "remain", u->remain);
    if (bad) {
        json_decref(tray);
        return NULL;
    }
    return json_pack("{s:{s:[{s:s,s:[o]}]}}", "ams", "ams", "id", unit, "tray", tray);
}

void pd_ha_serial(const char *printer_id, char out[PD_HA_SERIAL_LEN + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)printer_id, strlen(printer_id));
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    for (size_t i = 0; i < sizeof h; i++)
        snprintf(hex + 2 * i, 3, "%02X", h[i]);
    snprintf(out, PD_HA_SERIAL_LEN + 1, "HA%.13s", hex);
}

pd_err pd_ha_check_secret(const char *v, char *err, size_t errlen)
{
    size_t n = strlen(v);
    if (!n || (n >= 16 && n <= 128 && printable(v) && !strchr(v, ' ')))
        return PD_OK;
    snprintf(err, errlen, "must be empty (the webhooks are off) or 16-128 printable characters "
             "without spaces");
    return PD_ERR_INVAL;
}

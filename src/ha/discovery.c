/* What printdeck publishes for Home Assistant, pure: the checks of the [homeassistant] keys,
 * discovery topics and config messages (https://www.home-assistant.io/integrations/mqtt/
 * #mqtt-discovery), and the state messages of printers, slots and spools. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "ha/ha.h"

pd_err pd_ha_check_topic(const char *v, char *err, size_t errlen)
{
    size_t n = strlen(v);
    const char *why = NULL;
    if (!n || n > 64)
        why = "1 to 64 bytes expected";
    else if (v[0] == '/' || v[n - 1] == '/' || strstr(v, "//"))
        why = "no empty topic level (a leading, trailing or double '/')";
    for (const char *p = v; !why && *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '+' || *p == '#')
            why = "printable ASCII without spaces and without the wildcards + and #";
    if (why)
        snprintf(err, errlen, "%s", why);
    return why ? PD_ERR_INVAL : PD_OK;
}

typedef struct url_scheme {
    const char *prefix;
    bool tls;
    int port;
} url_scheme;

/* scheme://host[:port] then the rest, which *path points at. */
static pd_err parse_url(const char *v, const url_scheme *schemes, size_t n_schemes, bool *tls, char *host,
                        size_t hostlen, int *port, const char **path)
{
    const char *rest = NULL;
    for (size_t i = 0; i < n_schemes && !rest; i++)
        if (!strncmp(v, schemes[i].prefix, strlen(schemes[i].prefix))) {
            rest = v + strlen(schemes[i].prefix);
            *tls = schemes[i].tls;
            *port = schemes[i].port;
        }
    if (!rest)
        return PD_ERR_INVAL;
    const char *at = strrchr(rest, '@');
    if (at) /* credentials belong in username and password, where they are not logged */
        return PD_ERR_INVAL;
    size_t n = strcspn(rest, ":/");
    if (!n || n >= hostlen)
        return PD_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)rest[i]) && rest[i] != '.' && rest[i] != '-' && rest[i] != '_')
            return PD_ERR_INVAL;
    memcpy(host, rest, n);
    host[n] = '\0';
    rest += n;
    if (*rest == ':') {
        char *end;
        long p = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || p < 1 || p > 65535)
            return PD_ERR_INVAL;
        *port = (int)p;
        rest = end;
    }
    *path = rest;
    return PD_OK;
}

pd_err pd_ha_parse_url(const char *v, bool *tls, char *host, size_t hostlen, int *port)
{
    static const url_scheme mqtt[] = {{"mqtt://", false, 1883}, {"mqtts://", true, 8883}};
    const char *rest;
    pd_err rc = parse_url(v, mqtt, 2, tls, host, hostlen, port, &rest);
    return rc ? rc : !*rest || !strcmp(rest, "/") ? PD_OK : PD_ERR_INVAL;
}

/* Home Assistant's own port (8123) over http; a proxy's over https. A path is a proxy's
 * prefix: printable, without query, fragment or spaces. */
pd_err pd_ha_parse_api_url(const char *v, bool *tls, char *host, size_t hostlen, int *port, char *path,
                           size_t pathlen)
{
    static const url_scheme http[] = {{"http://", false, 8123}, {"https://", true, 443},
                                      {"ws://", false, 8123}, {"wss://", true, 443}};
    const char *rest;
    pd_err rc = parse_url(v, http, 4, tls, host, hostlen, port, &rest);
    size_t len = rc ? 0 : strlen(rest);
    while (len && rest[len - 1] == '/')
        len--;
    if (rc || (len && *rest != '/') || len + sizeof "/api/websocket" > pathlen)
        return PD_ERR_INVAL;
    for (size_t i = 0; i < len; i++)
        if (rest[i] <= ' ' || rest[i] >= 0x7f || strchr("?#%", rest[i]))
            return PD_ERR_INVAL;
    snprintf(path, pathlen, "%.*s/api/websocket", (int)len, rest);
    return PD_OK;
}

pd_err pd_ha_check_api_url(const char *v, char *err, size_t errlen)
{
    bool tls;
    char host[256], path[256];
    int port;
    if (!*v || !pd_ha_parse_api_url(v, &tls, host, sizeof host, &port, path, sizeof path))
        return PD_OK;
    snprintf(err, errlen, "http://HOST[:PORT] or https://HOST[:PORT] expected, as Home Assistant is "
                          "opened in a browser (8123 by default; a path only for a proxy's prefix)");
    return PD_ERR_INVAL;
}

pd_err pd_ha_check_url(const char *v, char *err, size_t errlen)
{
    bool tls;
    char host[256];
    int port;
    if (!*v || !pd_ha_parse_url(v, &tls, host, sizeof host, &port))
        return PD_OK;
    snprintf(err, errlen, "mqtt://HOST[:PORT] or mqtts://HOST[:PORT] expected (a host name or IPv4 address; "
                          "the credentials go in username and password)");
    return PD_ERR_INVAL;
}

#define TEMP "temperature", "°C", "measurement", NULL
const pd_ha_entity pd_ha_printer_entities[] = {
    {"sensor", "state", "State", "state", NULL, NULL, NULL, "mdi:printer-3d", false},
    {"sensor", "stage", "Stage", "stage", NULL, NULL, NULL, "mdi:progress-wrench", false},
    {"sensor", "progress", "Progress", "progress", NULL, "%", "measurement", "mdi:progress-clock", false},
    {"sensor", "time_left", "Time left", "remaining_min", "duration", "min", NULL, NULL, false},
    {"sensor", "finish", "Finish time", "finish", "timestamp", NULL, NULL, NULL, false},
    {"sensor", "nozzle_temp", "Nozzle temperature", "nozzle_temp", TEMP, false},
    {"sensor", "bed_temp", "Bed temperature", "bed_temp", TEMP, false},
    {"sensor", "job", "Current job", "job", NULL, NULL, NULL, "mdi:file-cad", false},
    {"binary_sensor", "online", "Online", "online", "connectivity", NULL, NULL, NULL, false},
    {"binary_sensor", "prompt", "Prompt pending", "prompt", "problem", NULL, NULL, NULL, false},
};
const size_t pd_ha_printer_nentities = sizeof pd_ha_printer_entities / sizeof *pd_ha_printer_entities;

pd_err pd_ha_config_topic(char *out, size_t n, const char *prefix, const char *component, const char *node,
                          const char *object)
{
    int len = snprintf(out, n, "%s/%s/%s/%s/config", prefix, component, node, object);
    return len < 0 || (size_t)len >= n ? PD_ERR_TOOBIG : PD_OK;
}

static void set_opt(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

char *pd_ha_config_json(const pd_ha_entity *e, const char *node, const char *state_topic,
                        const char *availability_topic, const pd_ha_device *dev)
{
    char uid[PD_HA_TOPIC_MAX], tmpl[96];
    snprintf(uid, sizeof uid, "%s_%s", node, e->object);
    snprintf(tmpl, sizeof tmpl, "{{ value_json.%s }}", e->value);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:[{s:s}],s:{s:[s],s:s,s:s,s:s}}", "name", e->name,
                          "unique_id", uid, "object_id", uid, "state_topic", state_topic, "value_template", tmpl,
                          "availability", "topic", availability_topic, "device", "identifiers", dev->id,
                          "name", dev->name, "model", dev->model, "manufacturer",
                          dev->manufacturer);
    if (!o)
        return NULL;
    set_opt(o, "device_class", e->device_class);
    set_opt(o, "unit_of_measurement", e->unit);
    set_opt(o, "state_class", e->state_class);
    set_opt(o, "icon", e->icon);
    if (e->attributes)
        set_opt(o, "json_attributes_topic", state_topic);
    char *s = json_dumps(o, PD_JSON_FLAGS);
    json_decref(o);
    return s;
}

static char *dump(json_t *o)
{
    char *s = o ? json_dumps(o, PD_JSON_FLAGS) : NULL;
    json_decref(o);
    return s;
}

static json_t *real_or_null(double v) { return isnan(v) ? json_null() : json_real(round(v * 10) / 10); }

static bool printing(const char *gcode_state)
{
    return !strcmp(gcode_state, "RUNNING") || !strcmp(gcode_state, "PREPARE") || !strcmp(gcode_state, "PAUSE");
}

char *pd_ha_printer_state(const pd_state *st, bool online, bool prompt, int64_t now_s)
{
    char state[sizeof st->gcode_state], finish[32] = "";
    size_t i = 0;
    for (; st->gcode_state[i]; i++)
        state[i] = (char)tolower((unsigned char)st->gcode_state[i]);
    state[i] = '\0';
    bool busy = printing(st->gcode_state);
    if (busy && st->remaining_min >= 0) {
        /* the minute it ends: a finish time that moves only when the estimate does */
        time_t t = (time_t)((now_s / 60 + st->remaining_min) * 60);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(finish, sizeof finish, "%Y-%m-%dT%H:%M:00+00:00", &tm);
    }
    const char *job = st->subtask[0] ? st->subtask : st->gcode_file;
    return dump(json_pack("{s:s,s:i,s:i,s:o,s:o,s:o,s:o,s:o,s:s,s:s}", "state", state[0] ? state : "unknown",
                          "stage", st->stage, "progress", st->progress, "remaining_min",
                          busy ? json_integer(st->remaining_min) : json_integer(0), "finish",
                          finish[0] ? json_string(finish) : json_null(), "nozzle_temp", real_or_null(st->nozzle_temp),
                          "bed_temp", real_or_null(st->bed_temp), "job",
                          busy && job[0] ? json_string(job) : json_null(), "online", online ? "ON" : "OFF",
                          "prompt", prompt ? "ON" : "OFF"));
}

void pd_ha_spool_name(const json_t *spool, char *out, size_t n)
{
    const json_t *f = json_object_get(spool, "filament");
    const char *vendor = json_string_value(json_object_get(json_object_get(f, "vendor"), "name"));
    const char *name = json_string_value(json_object_get(f, "name"));
    if (!name)
        name = json_string_value(json_object_get(f, "material"));
    snprintf(out, n, "%s%s%s #%" JSON_INTEGER_FORMAT, vendor ? vendor : "", vendor ? " " : "", name ? name : "Spool",
             json_integer_value(json_object_get(spool, "id")));
}

/* "#RRGGBB" from Spoolman's color_hex ("RRGGBB", maybe with alpha), or null */
static json_t *color_of(const json_t *filament)
{
    const char *hex = json_string_value(json_object_get(filament, "color_hex"));
    char c[8];
    if (!hex || strlen(hex) < 6)
        return json_null();
    snprintf(c, sizeof c, "#%.6s", hex);
    return json_string(c);
}

static json_t *grams(const json_t *v) { return json_is_number(v) ? json_real(round(json_number_value(v) * 10) / 10) : json_null(); }

char *pd_ha_slot_state(const json_t *slot)
{
    const json_t *sp = json_object_get(slot, "spool");
    const json_t *rep = json_object_get(slot, "reported");
    const json_t *f = json_object_get(sp, "filament");
    char name[200];
    const char *mat = json_string_value(json_object_get(rep, "material"));
    if (sp)
        pd_ha_spool_name(sp, name, sizeof name);
    else
        snprintf(name, sizeof name, "%s", mat && mat[0] ? "unknown" : "empty");
    const char *fmat = json_string_value(json_object_get(f, "material"));
    json_t *rcolor = json_object_get(rep, "color");
    return dump(json_pack("{s:s,s:O,s:o,s:o,s:o}", "spool", name, "spool_id",
                          sp ? json_object_get(sp, "id") : json_null(), "material",
                          fmat ? json_string(fmat) : mat && mat[0] ? json_string(mat) : json_null(), "color",
                          sp ? color_of(f) : json_is_string(rcolor) ? json_deep_copy(rcolor) : json_null(),
                          "remaining_g", sp ? grams(json_object_get(sp, "remaining_weight")) : json_null()));
}

char *pd_ha_spool_state(const json_t *spool, int default_low_g)
{
    const json_t *f = json_object_get(spool, "filament");
    const json_t *rem = json_object_get(spool, "remaining_weight");
    const json_t *lim = json_object_get(spool, "low_stock_weight");
    if (!json_is_number(lim))
        lim = json_object_get(f, "low_stock_weight");
    double limit = json_is_number(lim) ? json_number_value(lim) : default_low_g;
    bool low = limit > 0 && json_is_number(rem) && json_number_value(rem) < limit;
    char name[200];
    pd_ha_spool_name(spool, name, sizeof name);
    const char *mat = json_string_value(json_object_get(f, "material"));
    return dump(json_pack("{s:o,s:s,s:o,s:s,s:o,s:o}", "remaining_g", grams(rem), "low", low ? "ON" : "OFF",
                          "threshold_g", limit > 0 ? json_real(limit) : json_null(), "name", name, "material",
                          mat ? json_string(mat) : json_null(), "color", color_of(f)));
}

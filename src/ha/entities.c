#include "ha/entities.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ha-bambulab's entity names in English (custom_components/bambu_lab/translations/en.json of
 * https://github.com/greghesp/ha-bambulab), the object ids Home Assistant makes of them */
static const char *const SUFFIX[PD_HA_E_PRINT] = {
    "print_status", "task_name", "gcode_filename", "print_progress", "current_layer",
    "total_layer_count", "active_tray_index",
};

static const char *override(const pd_printer_rec *rec, int i)
{
    const char *const o[PD_HA_E_PRINT] = {rec->ha_print_status,  rec->ha_task_name,     rec->ha_gcode_file,
                                          rec->ha_print_progress, rec->ha_current_layer, rec->ha_total_layers,
                                          rec->ha_active_tray};
    return o[i];
}

/* The tray pattern with {unit} and {tray} replaced (record.c checked it has each once). */
static void tray_id(const char *pattern, int unit, int tray, char *out, size_t n)
{
    size_t len = 0;
    for (const char *p = pattern; *p && len + 1 < n; p++) {
        if (!strncmp(p, "{unit}", 6) || !strncmp(p, "{tray}", 6)) {
            out[len++] = (char)('0' + (p[1] == 'u' ? unit : tray));
            p += 5;
        } else {
            out[len++] = *p;
        }
    }
    out[len] = '\0';
}

void pd_ha_entity_ids(const pd_printer_rec *rec, char ids[PD_HA_E_COUNT][PD_HA_ENTITY_MAX])
{
    for (int i = 0; i < PD_HA_E_PRINT; i++) {
        const char *o = override(rec, i);
        if (o[0])
            snprintf(ids[i], PD_HA_ENTITY_MAX, "%s", o);
        else
            snprintf(ids[i], PD_HA_ENTITY_MAX, "sensor.%s_%s", rec->ha_device, SUFFIX[i]);
    }
    char pattern[PD_HA_ENTITY_MAX];
    if (rec->ha_ams_tray[0])
        snprintf(pattern, sizeof pattern, "%s", rec->ha_ams_tray);
    else
        snprintf(pattern, sizeof pattern, "sensor.%s_ams_{unit}_tray_{tray}", rec->ha_device);
    for (int u = 0; u < PD_HA_UNITS; u++)
        for (int t = 0; t < PD_HA_TRAYS; t++)
            tray_id(pattern, u + 1, t + 1, ids[PD_HA_E_PRINT + u * PD_HA_TRAYS + t], PD_HA_ENTITY_MAX);
}

static const json_t *state_of(const json_t *cache, const char *id)
{
    return json_object_get(json_object_get(cache, id), "s");
}

static bool known(const json_t *s)
{
    const char *v = json_string_value(s);
    return v && *v && strcasecmp(v, "unknown") && strcasecmp(v, "unavailable") && strcasecmp(v, "none");
}

json_t *pd_ha_print_body(const char *printer_id, const json_t *cache, char ids[PD_HA_E_COUNT][PD_HA_ENTITY_MAX])
{
    json_t *b = json_pack("{s:s}", "printer_id", printer_id);
    if (!b)
        return NULL;
    const json_t *task = state_of(cache, ids[PD_HA_E_TASK]);
    const struct {
        const char *member;
        const json_t *v;
    } m[] = {
        {"status", state_of(cache, ids[PD_HA_E_STATUS])},
        /* the task's name is the job's (a cloud print's file is a path in the printer's cache) */
        {"gcode_file_name", known(task) ? task : state_of(cache, ids[PD_HA_E_FILE])},
        {"progress", state_of(cache, ids[PD_HA_E_PROGRESS])},
        {"current_layer", state_of(cache, ids[PD_HA_E_LAYER])},
        {"total_layers", state_of(cache, ids[PD_HA_E_TOTAL])},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof m / sizeof *m; i++)
        if (known(m[i].v))
            bad |= json_object_set(b, m[i].member, (json_t *)m[i].v);
    /* tray_now + 1 over every AMS unit's trays: 1-16; the external spool (255) is none */
    const json_t *active = state_of(cache, ids[PD_HA_E_ACTIVE]);
    char *end;
    long n = known(active) ? strtol(json_string_value(active), &end, 10) : 0;
    if (n >= 1 && n <= PD_HA_UNITS * PD_HA_TRAYS && !*end)
        bad |= json_object_set_new(b, "ams_unit_number", json_integer((n - 1) / PD_HA_TRAYS + 1)) |
               json_object_set_new(b, "slot_number", json_integer((n - 1) % PD_HA_TRAYS + 1));
    if (bad) {
        json_decref(b);
        return NULL;
    }
    return b;
}

json_t *pd_ha_tray_body(const char *printer_id, const json_t *cache, char ids[PD_HA_E_COUNT][PD_HA_ENTITY_MAX],
                        int index)
{
    const json_t *e = json_object_get(cache, ids[index]);
    const json_t *a = json_object_get(e, "a");
    if (!known(json_object_get(e, "s")) || index < PD_HA_E_PRINT || index >= PD_HA_E_COUNT)
        return NULL;
    int k = index - PD_HA_E_PRINT;
    json_t *b = json_pack("{s:s,s:i,s:i}", "printer_id", printer_id, "ams_unit_number", k / PD_HA_TRAYS + 1,
                          "slot_number", k % PD_HA_TRAYS + 1);
    if (!b)
        return NULL;
    const json_t *type = json_object_get(a, "type"), *color = json_object_get(a, "color"),
                 *remain = json_object_get(a, "remain");
    int bad = 0;
    if (json_is_true(json_object_get(a, "empty")))
        bad |= json_object_set_new(b, "material", json_string("Empty"));
    else if (known(type))
        bad |= json_object_set(b, "material", (json_t *)type);
    if (known(color))
        bad |= json_object_set(b, "color", (json_t *)color);
    /* the AMS's estimate, -1 when it has none; anything else would refuse the whole update */
    if (json_is_integer(remain) && json_integer_value(remain) >= -1 && json_integer_value(remain) <= 100)
        bad |= json_object_set(b, "remain", (json_t *)remain);
    if (bad) {
        json_decref(b);
        return NULL;
    }
    return b;
}

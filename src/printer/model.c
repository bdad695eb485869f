#include "printer/model.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* One row per model. Aliases are compared after normalisation (lower case, letters and
 * digits only, "bambulab" prefix dropped), so "Bambu Lab X1-Carbon", "x1 carbon" and
 * "BL-P001" all reach the same row. Internal codes: docs/bambu-protocol.md §4.5. */
typedef struct model_row {
    const char *key;
    const char *name;
    const char *family;      /* wiki family for HMS pages */
    bool chamber_sensor;
    bool rtsp_camera;        /* RTSPS on 322; else the JPEG stream on 6000 (docs/camera.md) */
    const char *aliases[4];
} model_row;

static const model_row MODELS[PD_MODEL__COUNT] = {
    [PD_MODEL_UNKNOWN] = {"", "", "x1", false, false, {NULL}},
    [PD_MODEL_X1]      = {"X1", "Bambu Lab X1", "x1", true, true, {"blp002"}},
    [PD_MODEL_X1C]     = {"X1C", "Bambu Lab X1 Carbon", "x1", true, true, {"x1carbon", "blp001"}},
    [PD_MODEL_X1E]     = {"X1E", "Bambu Lab X1E", "x1", true, true, {"c13"}},
    [PD_MODEL_P1P]     = {"P1P", "Bambu Lab P1P", "p1", false, false, {"c11"}},
    [PD_MODEL_P1S]     = {"P1S", "Bambu Lab P1S", "p1", false, false, {"c12"}},
    [PD_MODEL_P2S]     = {"P2S", "Bambu Lab P2S", "p2s", true, true, {"n7"}},
    [PD_MODEL_A1]      = {"A1", "Bambu Lab A1", "a1", false, false, {"n2s"}},
    [PD_MODEL_A1MINI]  = {"A1MINI", "Bambu Lab A1 mini", "a1", false, false, {"n1"}},
    [PD_MODEL_A2L]     = {"A2L", "Bambu Lab A2L", "a2l", false, false, {NULL}},
    [PD_MODEL_H2D]     = {"H2D", "Bambu Lab H2D", "h2", true, true, {"o1d"}},
    [PD_MODEL_H2DPRO]  = {"H2DPRO", "Bambu Lab H2D Pro", "h2", true, true, {"o1e", "o2d"}},
    [PD_MODEL_H2C]     = {"H2C", "Bambu Lab H2C", "h2", true, true, {"o1c", "o1c2"}},
    [PD_MODEL_H2S]     = {"H2S", "Bambu Lab H2S", "h2", true, true, {"o1s"}},
    [PD_MODEL_X2D]     = {"X2D", "Bambu Lab X2D", "x2d", true, true, {"n6"}},
};

/* Serial prefixes from the HA HMS update script (docs/bambu-protocol.md §1.1). X1 and X1C
 * share "00M"; the more common X1C wins. Other models have no published prefix. */
static const struct {
    const char *prefix;
    pd_model model;
} SERIALS[] = {
    {"00M", PD_MODEL_X1C}, {"03W", PD_MODEL_X1E}, {"01S", PD_MODEL_P1P},
    {"01P", PD_MODEL_P1S}, {"22E", PD_MODEL_P2S}, {"039", PD_MODEL_A1},
    {"030", PD_MODEL_A1MINI}, {"094", PD_MODEL_H2D}, {"093", PD_MODEL_H2S},
};

static pd_model model_valid(pd_model m)
{
    return m > PD_MODEL_UNKNOWN && m < PD_MODEL__COUNT ? m : PD_MODEL_UNKNOWN;
}

const char *pd_model_key(pd_model m) { return MODELS[model_valid(m)].key; }
const char *pd_model_name(pd_model m) { return MODELS[model_valid(m)].name; }
const char *pd_model_wiki_family(pd_model m) { return MODELS[model_valid(m)].family; }
bool pd_model_has_chamber_sensor(pd_model m) { return MODELS[model_valid(m)].chamber_sensor; }

const char *pd_model_camera(pd_model m, int *port)
{
    if (!model_valid(m)) {
        *port = 0;
        return NULL;
    }
    *port = MODELS[m].rtsp_camera ? 322 : 6000;
    return MODELS[m].rtsp_camera ? "rtsps" : "jpeg6000";
}

/* Lower-cased letters and digits of s; false if it does not fit. */
static bool normalise(const char *s, char *out, size_t n)
{
    size_t j = 0;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s))
            continue;
        if (j + 1 >= n)
            return false;
        out[j++] = (char)tolower((unsigned char)*s);
    }
    out[j] = '\0';
    static const char brand[] = "bambulab";
    if (!strncmp(out, brand, sizeof brand - 1))
        memmove(out, out + sizeof brand - 1, j - (sizeof brand - 1) + 1);
    return j > 0;
}

pd_model pd_model_parse(const char *s)
{
    char want[48], have[48];
    if (!s || !normalise(s, want, sizeof want))
        return PD_MODEL_UNKNOWN;
    for (int m = PD_MODEL_UNKNOWN + 1; m < PD_MODEL__COUNT; m++) {
        if (normalise(MODELS[m].key, have, sizeof have) && !strcmp(have, want))
            return (pd_model)m;
        for (size_t i = 0; i < 4 && MODELS[m].aliases[i]; i++)
            if (!strcmp(MODELS[m].aliases[i], want))
                return (pd_model)m;
    }
    return PD_MODEL_UNKNOWN;
}

pd_model pd_model_from_serial(const char *serial)
{
    if (!serial)
        return PD_MODEL_UNKNOWN;
    for (size_t i = 0; i < sizeof SERIALS / sizeof SERIALS[0]; i++)
        if (!strncasecmp(serial, SERIALS[i].prefix, strlen(SERIALS[i].prefix)))
            return SERIALS[i].model;
    return PD_MODEL_UNKNOWN;
}

static const char *module_str(const json_t *mod, const char *key)
{
    const char *s = json_string_value(json_object_get(mod, key));
    return s ? s : "";
}

static const json_t *module_find(const json_t *modules, const char *name)
{
    size_t i;
    const json_t *mod;
    json_array_foreach(modules, i, mod)
        if (!strcmp(module_str(mod, "name"), name))
            return mod;
    return NULL;
}

/* Old firmware names no product: it carries the internal code in project_name, or only the
 * main board's hw_ver (docs/bambu-protocol.md §4.5, after HA's get_printer_type). */
static pd_model model_legacy(const json_t *modules)
{
    size_t i;
    const json_t *mod;
    json_array_foreach(modules, i, mod) {
        pd_model m = pd_model_parse(module_str(mod, "project_name"));
        if (m != PD_MODEL_UNKNOWN)
            return m;
    }
    static const char *const boards[] = {"esp32", "rv1126", "ap"};
    for (size_t b = 0; b < sizeof boards / sizeof boards[0]; b++) {
        const char *hw = module_str(module_find(modules, boards[b]), "hw_ver");
        if (!strcmp(hw, "AP02"))
            return PD_MODEL_X1E;
        if (!strcmp(hw, "AP05"))
            return PD_MODEL_X1C; /* A1 (also AP05) names itself via project_name above */
    }
    return PD_MODEL_UNKNOWN;
}

pd_model pd_model_from_version(const json_t *info, char *fw, size_t fwlen)
{
    const json_t *modules = json_object_get(info, "module");
    if (fw && fwlen)
        fw[0] = '\0';
    if (!json_is_array(modules))
        return PD_MODEL_UNKNOWN;
    const json_t *ota = module_find(modules, "ota");
    if (ota && fw && fwlen)
        snprintf(fw, fwlen, "%s", module_str(ota, "sw_ver"));
    pd_model m = pd_model_parse(module_str(ota, "product_name"));
    return m != PD_MODEL_UNKNOWN ? m : model_legacy(modules);
}

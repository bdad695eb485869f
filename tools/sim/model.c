/* Catalogues the simulated printers draw from, all taken from real reports (the samples in
 * tests/fixtures/samples and docs/bambu-protocol.md), and a small seeded PRNG so --seed
 * replays a run. */
#include "sim.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const sim_ams_kind sim_ams_classic = {"ams", "AMS08", "AMS", "00.01.06.62", true, true};
static const sim_ams_kind sim_ams_lite = {"ams_f1", "AMS_F102", "AMS Lite", "00.00.08.15", false, false};
static const sim_ams_kind sim_ams_2pro = {"n3f", "N3F05", "AMS 2 Pro", "02.00.19.68", true, true};

#define SIM_MODERN_X   (SIM_F_MODERN | SIM_F_VIR_SLOT | SIM_F_WORK_LIGHT | SIM_F_RTSP | SIM_F_XCAM_AI)

static const sim_model sim_models[] = {
    {"X1C", "Bambu Lab X1-Carbon", "00M09A", "01.09.00.01", {"MC07", "TH09", "AP05"},
     "hardened_steel", 0x11A30F9CFBull, SIM_MODERN_X | SIM_F_VT_TRAY | SIM_F_LOCAL_SLOT, &sim_ams_classic, 2, 11},
    {"P1P", "Bambu Lab P1P", "01S00C", "01.08.02.00", {"MC07", "TH09", "AP04"},
     "stainless_steel", 0, SIM_F_VT_TRAY, NULL, 0, 0},
    {"P1S", "Bambu Lab P1S", "01P00A", "01.08.02.00", {"MC07", "TH09", "AP04"},
     "stainless_steel", 0, SIM_F_VT_TRAY, &sim_ams_classic, 1, 3},
    {"A1", "Bambu Lab A1", "03919C", "01.05.00.00", {"MC02", "TH01", "AP05"},
     "stainless_steel", 0, SIM_F_VT_TRAY | SIM_F_XCAM_PLATE, &sim_ams_lite, 1, 0},
    {"A1MINI", "Bambu Lab A1 mini", "0309DA", "01.07.02.00", {"MC02", "TH03", "AP05"},
     "stainless_steel", 0, SIM_F_VT_TRAY | SIM_F_XCAM_PLATE, &sim_ams_lite, 1, 0},
    {"P2S", "Bambu Lab P2S", "22E00A", "01.01.00.00", {"MC06", "TH03", "AP04"},
     "HS01", 0x60029FD1A3FF9CB7ull, SIM_MODERN_X | SIM_F_LOCAL_SLOT, &sim_ams_2pro, 1, 11},
    {"H2D", "Bambu Lab H2D", "0948AD", "01.01.02.08", {"MC09", "TH08", "AP05"},
     "stainless_steel", 0x1AFFF9CFFull,
     SIM_MODERN_X | SIM_F_VT_TRAY | SIM_F_CHAMBER_FLAT | SIM_F_LIGHT2 | SIM_F_DUAL | SIM_F_LOCAL_SLOT,
     &sim_ams_2pro, 2, 11},
};
#define SIM_N(a) (sizeof(a) / sizeof((a)[0]))

static const sim_material sim_materials[] = {
    {"PLA", "PLA Basic", "GFA00", "GFL99", "A00", 190, 230, 220, 55, 55, 8, 0.020, 6},
    {"PLA", "PLA Matte", "GFA01", "GFL99", "A01", 190, 230, 220, 55, 55, 8, 0.020, 3},
    {"PETG", "PETG HF", "GFG02", "GFG99", "G02", 230, 260, 250, 70, 65, 8, 0.040, 2},
    {"ABS", "ABS", "GFB00", "GFB99", "B00", 240, 270, 260, 90, 80, 8, 0.030, 1},
    {"ASA", "ASA", "GFB01", "GFB98", "B01", 240, 270, 260, 90, 80, 8, 0.030, 1},
    {"PA-CF", "PAHT-CF", "GFN04", "GFN99", "N04", 260, 290, 280, 100, 80, 12, 0.030, 1},
};

static const sim_colour sim_colours[] = {
    {"000000FF", "K0"}, {"FFFFFFFF", "W1"}, {"FF6A13FF", "A0"}, {"0A2989FF", "B3"},
    {"C12E1FFF", "R0"}, {"00AE42FF", "G1"}, {"F4EE2AFF", "Y0"}, {"8E9089FF", "D1"},
    {"9D432CFF", "N0"}, {"EC008CFF", "P0"},
};

static const sim_job_template sim_jobs[] = {
    {"3DBenchy", 240, 48, 15},         {"Gridfinity bin 2x3", 180, 95, 48},
    {"Cable clip x8", 40, 22, 6},      {"Phone stand", 210, 130, 62},
    {"Raspberry Pi 5 case", 160, 150, 70}, {"Filament swatch set", 20, 35, 12},
    {"Spiral vase", 900, 180, 85},     {"Hinged box", 150, 110, 55},
    {"Wall hook x4", 90, 60, 28},      {"Planter 120mm", 600, 300, 160},
    {"Keycap set", 60, 75, 18},        {"Drawer organizer", 120, 200, 120},
};

/* HMS codes that come and go on their own while printing (texts in assets/bambu/hms). */
static const sim_incident sim_incidents[] = {
    {0x0C000300, 0x00030007, SIM_F_XCAM_AI}, /* possible first layer defects */
    {0x03003100, 0x00020002, 0},             /* part cooling fan speed is slow */
    {0x03001000, 0x00020001, 0},             /* X axis resonance frequency low: loose belt */
    {0x07000100, 0x00020002, 0},             /* AMS A assist motor overloaded: tangle */
};

/* heatbed preheating, homing, auto bed leveling, heating hotend, cleaning nozzle tip */
static const int sim_stages[] = {2, 13, 1, 7, 14};

/* print_error values of jobs that fail on their own (device_error table). */
static const uint32_t sim_failures[] = {0x0500C010, 0x0300800A, 0x03008014};

const sim_model *sim_model_find(const char *key)
{
    for (size_t i = 0; i < SIM_N(sim_models); i++)
        if (!strcasecmp(sim_models[i].key, key))
            return &sim_models[i];
    return NULL;
}

const sim_model *sim_model_from_serial(const char *serial)
{
    for (size_t i = 0; i < SIM_N(sim_models); i++)
        if (!strncmp(sim_models[i].prefix, serial, 3))
            return &sim_models[i];
    return NULL;
}

void sim_model_list(char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < SIM_N(sim_models) && n < len; i++) {
        int w = snprintf(buf + n, len - n, "%s%s", i ? "," : "", sim_models[i].key);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

const sim_material *sim_material_find(const char *type)
{
    for (size_t i = 0; i < SIM_N(sim_materials); i++)
        if (!strcasecmp(sim_materials[i].type, type) || !strcasecmp(sim_materials[i].sub_brand, type))
            return &sim_materials[i];
    return NULL;
}

const sim_material *sim_material_pick(uint64_t *rng)
{
    int total = 0;
    for (size_t i = 0; i < SIM_N(sim_materials); i++)
        total += sim_materials[i].weight;
    int r = sim_irand(rng, 0, total - 1);
    for (size_t i = 0; i < SIM_N(sim_materials); i++) {
        r -= sim_materials[i].weight;
        if (r < 0)
            return &sim_materials[i];
    }
    return &sim_materials[0];
}

const sim_colour *sim_colour_pick(uint64_t *rng)
{
    return &sim_colours[sim_irand(rng, 0, (int)SIM_N(sim_colours) - 1)];
}

const sim_colour *sim_colour_find(const char *rgba)
{
    for (size_t i = 0; i < SIM_N(sim_colours); i++)
        if (!strcasecmp(sim_colours[i].rgba, rgba))
            return &sim_colours[i];
    return NULL;
}

const sim_job_template *sim_job_pick(uint64_t *rng)
{
    return &sim_jobs[sim_irand(rng, 0, (int)SIM_N(sim_jobs) - 1)];
}

const sim_incident *sim_incident_pick(uint64_t *rng, unsigned model_flags)
{
    const sim_incident *it = &sim_incidents[sim_irand(rng, 0, (int)SIM_N(sim_incidents) - 1)];
    return (it->needs & model_flags) == it->needs ? it : NULL;
}

uint32_t sim_failure_pick(uint64_t *rng)
{
    return sim_failures[sim_irand(rng, 0, (int)SIM_N(sim_failures) - 1)];
}

int sim_speed_mag(int level)
{
    /* silent, standard, sport, ludicrous */
    static const int mags[] = {50, 100, 124, 166};
    return mags[level < 1 ? 0 : level > 4 ? 3 : level - 1];
}

const int *sim_prepare_stages(size_t *n)
{
    *n = SIM_N(sim_stages);
    return sim_stages;
}

/* xorshift64*: tiny, good enough for a simulation, and reproducible across platforms */
uint64_t sim_rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

double sim_frand(uint64_t *s)
{
    return (double)(sim_rand(s) >> 11) * (1.0 / 9007199254740992.0);
}

int sim_irand(uint64_t *s, int lo, int hi)
{
    return lo + (int)(sim_rand(s) % (uint64_t)(hi - lo + 1));
}

void sim_rand_hex(uint64_t *s, char *out, size_t digits)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < digits; i++)
        out[i] = hex[sim_rand(s) & 0xF];
    out[digits] = '\0';
}

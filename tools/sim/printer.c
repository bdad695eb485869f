/* One simulated printer: thermals, the job state machine, AMS filament use with backup
 * rollover and runout, HMS incidents, the request-topic commands a real printer answers
 * (docs/bambu-protocol.md §2, §6) and the control actions tests use to script scenarios.
 * Everything runs on simulated time (clock_s, --speedup × real time) except what a test waits
 * on in real time: silence, error display, held values. */
#include "sim.h"

#include "core/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SIM_LOG            "sim"
#define SIM_ERROR_SHOW_MS  5000.0     /* print_error is shown briefly, then reset to 0 */
#define SIM_CANCELLED      0x0300400Cu /* "The task was canceled." */
#define SIM_DEFAULT_FAIL   0x0500C010u /* SD card read/write exception */
#define SIM_RUNOUT_CODE    0x00020001u /* with attr 07<ams>_<20+slot>00: slot ran out */
#define SIM_STAGE_USER     16         /* paused by user */
#define SIM_STAGE_RUNOUT   6          /* paused: filament runout */
#define SIM_SPOOL_GRAMS    1000.0
#define SIM_TUBE_G         4.0        /* left in the tube when a spool runs out: ~1.3 m of PLA */

static const char sim_zero_uuid[] = "00000000000000000000000000000000";
static const char sim_zero_tag[] = "0000000000000000";

/* ---- small state helpers ------------------------------------------------------------ */

static double sim_now(const sim_printer *p)
{
    return sim_now_ms(p->sim);
}

bool sim_printer_busy(const sim_printer *p)
{
    return p->phase == SIM_PREPARE || p->phase == SIM_RUNNING || p->phase == SIM_PAUSE;
}

static double sim_uniform(sim_printer *p, double lo, double hi)
{
    return lo + (hi - lo) * sim_frand(&p->rng);
}

/* the resolution the model reports temperatures at (see report.c sim_put_temp) */
static double sim_quant(const sim_printer *p, double v)
{
    return (p->model->flags & SIM_F_MODERN) ? round(v) : round(v * 32.0) / 32.0;
}

static void sim_set_temp(sim_printer *p, double *field, double v, unsigned group)
{
    if (sim_quant(p, *field) != sim_quant(p, v))
        p->dirty |= group;
    *field = v;
}

static void sim_set_int(sim_printer *p, int *field, int v, unsigned group)
{
    if (*field != v) {
        *field = v;
        p->dirty |= group;
    }
}

static void sim_set_error(sim_printer *p, uint32_t error)
{
    if (p->print_error != error) {
        p->print_error = error;
        p->dirty |= SIM_G_JOB;
    }
}

static void sim_set_targets(sim_printer *p, double nozzle, double bed)
{
    sim_set_temp(p, &p->nozzle_target, nozzle, SIM_G_NOZZLE);
    sim_set_temp(p, &p->bed_target, bed, SIM_G_BED);
}

static void sim_set_fans(sim_printer *p, int part, int aux, int chamber)
{
    sim_set_int(p, &p->fan_part, part, SIM_G_FANS);
    sim_set_int(p, &p->fan_aux, aux, SIM_G_FANS);
    sim_set_int(p, &p->fan_chamber, chamber, SIM_G_FANS);
}

/* ---- spools -------------------------------------------------------------------------- */

static void sim_spool_new(sim_printer *p, sim_tray *t, const sim_material *m, const char *colour,
                          bool rfid, double remain)
{
    t->present = true;
    t->rfid = rfid;
    t->mat = m;
    t->spool = ++p->spools;
    snprintf(t->colour, sizeof t->colour, "%s", colour);
    if (rfid) {
        sim_rand_hex(&p->rng, t->uuid, 32);
        /* real tag UIDs end in 00000100 (samples) */
        sim_rand_hex(&p->rng, t->tag_uid, 8);
        memcpy(t->tag_uid + 8, "00000100", 9);
        t->remain = remain;
    } else {
        memcpy(t->uuid, sim_zero_uuid, sizeof sim_zero_uuid);
        memcpy(t->tag_uid, sim_zero_tag, sizeof sim_zero_tag);
        t->remain = -1;
    }
    p->ams_version++;
    p->dirty |= SIM_G_AMS | SIM_G_EXT;
}

static void sim_spool_remove(sim_printer *p, sim_tray *t)
{
    memset(t, 0, sizeof *t);
    memcpy(t->uuid, sim_zero_uuid, sizeof sim_zero_uuid);
    memcpy(t->tag_uid, sim_zero_tag, sizeof sim_zero_tag);
    p->ams_version++;
    p->dirty |= SIM_G_AMS | SIM_G_EXT;
}

static int sim_global_tray(const sim_printer *p, int ams_index, int slot)
{
    return p->ams[ams_index].id * 4 + slot;
}

/* global tray id (ams.id*4 + slot, 254 external) to the tray; NULL if there is none */
static sim_tray *sim_tray_at(sim_printer *p, int global_id)
{
    if (global_id == SIM_TRAY_EXT)
        return &p->ext;
    for (int a = 0; a < p->n_ams; a++)
        if (p->ams[a].id == global_id / 4)
            return &p->ams[a].tray[global_id % 4];
    return NULL;
}

static bool sim_tray_usable(const sim_tray *t)
{
    return t && t->present && (!t->rfid || t->remain > 0);
}

static void sim_load_tray(sim_printer *p, int tray)
{
    if (tray == p->tray_now)
        return;
    sim_set_int(p, &p->tray_pre, p->tray_now, SIM_G_AMS_NOW | SIM_G_NOZZLE);
    sim_set_int(p, &p->tray_now, tray, SIM_G_AMS_NOW | SIM_G_NOZZLE);
    sim_set_int(p, &p->tray_tar, tray, SIM_G_AMS_NOW | SIM_G_NOZZLE);
}

/* the loaded tray if it still has filament, else a random usable AMS tray, else external */
static int sim_pick_tray(sim_printer *p)
{
    if (sim_tray_usable(sim_tray_at(p, p->tray_now)))
        return p->tray_now;
    int usable[SIM_MAX_AMS * SIM_TRAYS], n = 0;
    for (int a = 0; a < p->n_ams; a++)
        for (int s = 0; s < SIM_TRAYS; s++)
            if (sim_tray_usable(&p->ams[a].tray[s]))
                usable[n++] = sim_global_tray(p, a, s);
    if (n)
        return usable[sim_irand(&p->rng, 0, n - 1)];
    return p->ext.present ? SIM_TRAY_EXT : SIM_TRAY_NONE;
}

/* ---- HMS ----------------------------------------------------------------------------- */

static void sim_hms_add(sim_printer *p, uint32_t attr, uint32_t code, double clear_at)
{
    for (int i = 0; i < p->n_hms; i++)
        if (p->hms[i].attr == attr && p->hms[i].code == code)
            return;
    if (p->n_hms == SIM_MAX_HMS) {
        pd_warn(SIM_LOG, "%s: HMS list full, %08X_%08X not raised", p->serial, attr, code);
        return;
    }
    p->hms[p->n_hms++] = (sim_hms){attr, code, clear_at};
    p->dirty |= SIM_G_HMS;
    pd_info(SIM_LOG, "%s: HMS_%04X_%04X_%04X_%04X raised", p->serial, attr >> 16, attr & 0xFFFF,
            code >> 16, code & 0xFFFF);
}

static void sim_hms_remove_at(sim_printer *p, int i)
{
    p->hms[i] = p->hms[--p->n_hms];
    p->dirty |= SIM_G_HMS;
}

static uint32_t sim_runout_attr(int tray)
{
    return 0x07000000u | (uint32_t)(tray / 4) << 16 | (uint32_t)(0x20 + tray % 4) << 8;
}

static void sim_hms_remove(sim_printer *p, uint32_t attr, uint32_t code)
{
    for (int i = 0; i < p->n_hms; i++)
        if (p->hms[i].attr == attr && p->hms[i].code == code)
            sim_hms_remove_at(p, i--);
}

/* ---- job state machine --------------------------------------------------------------- */

static int sim_stage_none(const sim_printer *p)
{
    return (p->model->flags & SIM_F_MODERN) ? -1 : 255;
}

static void sim_update_progress(sim_printer *p)
{
    const sim_job *j = &p->job;
    double frac = j->total_s > 0 ? j->done_s / j->total_s : 1.0;
    double speed = sim_speed_mag(p->spd_lvl) / 100.0;
    sim_set_int(p, &p->pct, (int)floor(100.0 * frac), SIM_G_PROGRESS);
    int layer = 1 + (int)(j->layers * frac);
    sim_set_int(p, &p->layer, layer > j->layers ? j->layers : layer, SIM_G_PROGRESS);
    sim_set_int(p, &p->remaining_min, (int)ceil((j->total_s - j->done_s) / speed / 60.0), SIM_G_PROGRESS);
}

static void sim_running_fans(sim_printer *p)
{
    const sim_tray *t = sim_tray_at(p, p->tray_now);
    int bed = t && t->mat ? t->mat->bed : 55;
    /* PLA wants full part cooling, enclosed high-temperature materials little */
    if (bed <= 60)
        sim_set_fans(p, 15, 10, 2);
    else if (bed <= 70)
        sim_set_fans(p, 10, 6, 2);
    else
        sim_set_fans(p, 4, 0, 0);
}

static void sim_enter(sim_printer *p, sim_phase ph)
{
    size_t n_stages;
    p->phase = ph;
    p->dirty |= SIM_G_JOB | SIM_G_PROGRESS;
    switch (ph) {
    case SIM_PREPARE:
        sim_set_int(p, &p->prepare_pct, 0, SIM_G_JOB);
        sim_set_int(p, &p->stage, sim_prepare_stages(&n_stages)[0], SIM_G_JOB);
        sim_update_progress(p);
        sim_set_int(p, &p->layer, 0, SIM_G_PROGRESS);
        break;
    case SIM_RUNNING:
        sim_set_int(p, &p->prepare_pct, 100, SIM_G_JOB);
        sim_set_int(p, &p->stage, 0, SIM_G_JOB);
        sim_running_fans(p);
        sim_update_progress(p);
        break;
    case SIM_PAUSE:
        sim_set_fans(p, 0, 0, p->fan_chamber);
        break;
    case SIM_IDLE: /* only the state a printer starts in */
        break;
    case SIM_FINISH:
    case SIM_FAILED:
        sim_set_targets(p, 0, 0);
        sim_set_fans(p, 0, 0, 0);
        sim_set_int(p, &p->stage, sim_stage_none(p), SIM_G_JOB);
        if (ph == SIM_FINISH) {
            p->job.done_s = p->job.total_s;
            sim_update_progress(p);
        }
        if (sim_options(p->sim)->storage_dir)
            sim_storage_write_truth(p, sim_options(p->sim)->storage_dir);
        /* the filament is retracted to the AMS after a print */
        if (p->n_ams)
            sim_load_tray(p, SIM_TRAY_NONE);
        p->resume_at_s = 0;
        p->next_auto_s = p->clock_s + sim_uniform(p, 60, 600);
        break;
    }
}

/* called where the outside world drives the printer, so setting up the fleet stays quiet */
static void sim_log_phase(const sim_printer *p, sim_phase before)
{
    if (p->phase != before)
        pd_info(SIM_LOG, "%s: %s -> %s (%s)", p->serial, sim_phase_name(before), sim_phase_name(p->phase),
                p->job.name);
}

int sim_job_filament_at(const sim_job *j, int layer, int k)
{
    return layer % 2 ? j->n_fil - 1 - k : k;
}

/* trays[i] < 0: the printer picks (a single-filament job); grams[i] per filament. */
static void sim_job_start(sim_printer *p, const char *name, int layers, double minutes, double prepare_s,
                          const int *trays, const double *grams, int n)
{
    sim_job *j = &p->job;
    memset(j, 0, sizeof *j);
    snprintf(j->name, sizeof j->name, "%s", name);
    j->layers = layers;
    j->total_s = minutes * 60.0;
    j->prep_total_s = prepare_s;
    j->fail_at = -1;
    j->task_id = (unsigned)sim_irand(&p->rng, 100000, 0x7FFFFFFF);
    j->n_fil = n < 1 ? 1 : n > SIM_MAX_FIL ? SIM_MAX_FIL : n;
    for (int i = 0; i < j->n_fil; i++) {
        j->fil_tray[i] = trays[i] >= 0 ? trays[i] : sim_pick_tray(p);
        j->fil_grams[i] = grams[i];
        j->grams += grams[i];
        const sim_tray *t = sim_tray_at(p, j->fil_tray[i]);
        j->fil_mat[i] = t && t->mat ? t->mat : sim_material_find("PLA");
        snprintf(j->fil_colour[i], sizeof j->fil_colour[i], "%s",
                 t && t->present && strlen(t->colour) >= 6 ? t->colour : "FFFFFFFF");
    }
    sim_load_tray(p, j->fil_tray[sim_job_filament_at(j, 0, 0)]);
    const char *storage = sim_options(p->sim)->storage_dir;
    if (storage)
        sim_storage_write_job(p, storage);
    sim_set_targets(p, j->fil_mat[0]->nozzle, j->fil_mat[0]->bed);
    sim_set_error(p, 0);
    p->error_clear_ms = 0;
    p->resume_at_s = 0;
    if (!p->light) {
        p->light = true;
        p->dirty |= SIM_G_LIGHTS;
    }
    sim_enter(p, SIM_PREPARE);
}

static void sim_job_start_auto(sim_printer *p)
{
    const sim_job_template *t = sim_job_pick(&p->rng);
    double scale = sim_uniform(p, 0.8, 1.2);
    int tray = -1;
    double grams = t->grams * scale;
    sim_job_start(p, t->name, (int)(t->layers * scale), t->minutes * scale, sim_uniform(p, 60, 180),
                  &tray, &grams, 1);
    if (sim_frand(&p->rng) < 0.06) {
        p->job.fail_at = sim_uniform(p, 0.05, 0.9);
        p->job.fail_error = sim_failure_pick(&p->rng);
    }
}

static void sim_job_fail(sim_printer *p, uint32_t error)
{
    sim_set_error(p, error);
    p->error_clear_ms = sim_now(p) + SIM_ERROR_SHOW_MS;
    sim_enter(p, SIM_FAILED);
}

static void sim_pause(sim_printer *p, int stage)
{
    sim_set_int(p, &p->stage, stage, SIM_G_JOB);
    sim_enter(p, SIM_PAUSE);
}

static void sim_resume(sim_printer *p)
{
    sim_enter(p, p->job.prep_done_s < p->job.prep_total_s ? SIM_PREPARE : SIM_RUNNING);
}

/* An empty spool: the AMS continues filament f from another slot with the same material
 * (backup) once what is left in the tube is used, else the print pauses and asks for a new
 * spool in that slot. */
static void sim_runout(sim_printer *p, int f)
{
    const sim_tray *from = sim_tray_at(p, p->tray_now);
    int backup = -1;
    for (int a = 0; a < p->n_ams; a++)
        for (int s = 0; s < SIM_TRAYS; s++) {
            const sim_tray *t = &p->ams[a].tray[s];
            int g = sim_global_tray(p, a, s);
            if (g == p->tray_now || !sim_tray_usable(t) || t->mat != from->mat)
                continue;
            if (backup < 0 || !strcmp(t->colour, from->colour))
                backup = g;
        }
    if (backup >= 0) {
        pd_info(SIM_LOG, "%s: tray %d ran out, AMS backup continues from tray %d", p->serial, p->tray_now, backup);
        sim_job *j = &p->job;
        j->tail_g = SIM_TUBE_G;
        j->tail_fil = f;
        j->tail_tray = p->tray_now;
        j->tail_backup = backup;
        return;
    }
    pd_info(SIM_LOG, "%s: tray %d ran out, no backup: pausing", p->serial, p->tray_now);
    sim_hms_add(p, sim_runout_attr(p->tray_now), SIM_RUNOUT_CODE, 0);
    sim_pause(p, SIM_STAGE_RUNOUT);
    if (sim_options(p->sim)->auto_jobs)
        p->resume_at_s = p->clock_s + sim_uniform(p, 120, 600);
}

static void sim_consume(sim_printer *p, int f, double grams)
{
    sim_tray *t = sim_tray_at(p, p->tray_now);
    if (!t || !t->present || !t->rfid || grams <= 0)
        return;
    double before = ceil(t->remain);
    t->remain = fmax(0, t->remain - grams / SIM_SPOOL_GRAMS * 100.0);
    if (ceil(t->remain) != before)
        p->dirty |= SIM_G_AMS;
    if (t->remain <= 0)
        sim_runout(p, f);
}

/* grams off the spool now in the tray: a spool swapped in mid-print is an entry of its own */
static void sim_truth_add(sim_printer *p, int tray, double grams)
{
    sim_job *j = &p->job;
    const sim_tray *t = sim_tray_at(p, tray);
    unsigned spool = t ? t->spool : 0;
    for (int i = 0; i < j->n_truth; i++)
        if (j->truth[i].tray == tray && j->truth[i].spool == spool) {
            j->truth[i].grams += grams;
            return;
        }
    if (j->n_truth < SIM_TRUTH_MAX) {
        sim_truth *e = &j->truth[j->n_truth++];
        *e = (sim_truth){.tray = tray, .spool = spool, .grams = grams};
        snprintf(e->uuid, sizeof e->uuid, "%s", t ? t->uuid : "");
    }
}

/* Filament f feeds `grams` from its tray: a tool change first when another tray is loaded.
 * After its spool ran out, what is left in the tube feeds first (tray_now reads 255 until the
 * backup's filament reaches the extruder), then the backup tray feeds it from then on. */
static void sim_feed_filament(sim_printer *p, int f, double grams)
{
    sim_job *j = &p->job;
    if (j->tail_g > 0 && j->tail_fil == f) {
        double take = fmin(grams, j->tail_g);
        sim_load_tray(p, SIM_TRAY_NONE);
        sim_truth_add(p, j->tail_tray, take);
        j->tail_g -= take;
        grams -= take;
        if (j->tail_g > 1e-9)
            return;
        j->tail_g = 0;
        j->fil_tray[f] = j->tail_backup;
    }
    if (grams <= 0)
        return;
    sim_load_tray(p, j->fil_tray[f]);
    sim_truth_add(p, j->fil_tray[f], grams);
    sim_consume(p, f, grams);
}

/* Feeds the job's filaments, in their layer order, up to `target` grams in all. Stops while
 * the job is not running (a runout pause) and goes on from there when it runs again. */
static void sim_feed(sim_printer *p, double target)
{
    sim_job *j = &p->job;
    while (p->phase == SIM_RUNNING && j->fed_g < target - 1e-9 && j->cur_layer < j->layers) {
        int f = sim_job_filament_at(j, j->cur_layer, j->cur_k);
        double share = j->fil_grams[f] / j->layers, take = fmin(share - j->seg_done, target - j->fed_g);
        if (take > 0) {
            sim_feed_filament(p, f, take);
            j->seg_done += take;
            j->fed_g += take;
        }
        if (j->seg_done >= share - 1e-9) {
            j->seg_done = 0;
            if (++j->cur_k == j->n_fil) {
                j->cur_k = 0;
                j->cur_layer++;
            }
        }
    }
}

static void sim_step_prepare(sim_printer *p, double dt)
{
    sim_job *j = &p->job;
    j->prep_done_s += dt;
    double frac = j->prep_total_s > 0 ? fmin(1.0, j->prep_done_s / j->prep_total_s) : 1.0;
    /* the file download/unzip is the first third of preparation */
    sim_set_int(p, &p->prepare_pct, (int)fmin(100, frac * 300), SIM_G_JOB);
    size_t n;
    const int *stages = sim_prepare_stages(&n);
    size_t i = (size_t)(frac * (double)n);
    sim_set_int(p, &p->stage, stages[i < n ? i : n - 1], SIM_G_JOB);
    if (frac >= 1.0)
        sim_enter(p, SIM_RUNNING);
}

static void sim_step_running(sim_printer *p, double dt)
{
    sim_job *j = &p->job;
    j->done_s = fmin(j->total_s, j->done_s + dt * sim_speed_mag(p->spd_lvl) / 100.0);
    if (j->total_s > 0)
        sim_feed(p, j->grams * j->done_s / j->total_s);
    if (p->phase != SIM_RUNNING)
        return;
    sim_update_progress(p);
    if (j->fail_at >= 0 && j->done_s >= j->fail_at * j->total_s)
        sim_job_fail(p, j->fail_error);
    else if (j->done_s >= j->total_s)
        sim_enter(p, SIM_FINISH);
}

/* ---- physics and noise ------------------------------------------------------------- */

static double sim_approach(double v, double goal, double tau_s, double dt)
{
    return v + (goal - v) * (1.0 - exp(-dt / tau_s));
}

static void sim_step_thermal(sim_printer *p, double dt)
{
    double a = p->ambient;
    double nozzle_goal = p->nozzle_target > 0 ? p->nozzle_target : a;
    double bed_goal = p->bed_target > 0 ? p->bed_target : a;
    /* an enclosure warms with the bed */
    double chamber_goal = a + (p->bed > a ? (p->bed - a) * 0.25 : 0);
    sim_set_temp(p, &p->nozzle, sim_approach(p->nozzle, nozzle_goal, 15, dt) + sim_uniform(p, -0.3, 0.3),
                 SIM_G_NOZZLE);
    sim_set_temp(p, &p->bed, sim_approach(p->bed, bed_goal, 90, dt) + sim_uniform(p, -0.1, 0.1), SIM_G_BED);
    sim_set_temp(p, &p->chamber, sim_approach(p->chamber, chamber_goal, 600, dt), SIM_G_CHAMBER);
    sim_set_int(p, &p->fan_heatbreak, p->nozzle > 50 ? 15 : 0, SIM_G_FANS);
}

static void sim_step_noise(sim_printer *p, double dt)
{
    /* P1/A1 report a jittering wifi_signal in nearly every push */
    sim_set_int(p, &p->wifi, p->wifi_base + sim_irand(&p->rng, -3, 3), SIM_G_WIFI);
    if (!p->model->ams || !p->model->ams->sensors)
        return;
    for (int a = 0; a < p->n_ams; a++) {
        sim_ams *u = &p->ams[a];
        long raw = lround(u->humidity_raw), temp = lround(u->temp * 10);
        if (sim_frand(&p->rng) < dt / 90.0)
            u->humidity_raw = fmax(5, fmin(65, u->humidity_raw + sim_irand(&p->rng, -1, 1)));
        if (sim_frand(&p->rng) < dt / 60.0)
            u->temp = sim_approach(u->temp, p->ambient + 3, 300, 60) + sim_uniform(p, -0.15, 0.15);
        if (raw != lround(u->humidity_raw) || temp != lround(u->temp * 10))
            p->dirty |= SIM_G_AMS;
    }
}

/* a user replacing a spool in the slot: same material unless told otherwise */
static void sim_spool_replace(sim_printer *p, sim_tray *t, const sim_material *m)
{
    sim_spool_new(p, t, m ? m : sim_material_pick(&p->rng), sim_colour_pick(&p->rng)->rgba, true, 100);
}

static void sim_step_auto(sim_printer *p, double dt)
{
    double hours = dt / 3600.0;
    bool idle = !sim_printer_busy(p);
    if (idle && p->clock_s >= p->next_auto_s)
        sim_job_start_auto(p);
    if (p->phase == SIM_RUNNING && sim_frand(&p->rng) < 0.5 * hours) {
        const sim_incident *it = sim_incident_pick(&p->rng, p->model->flags);
        /* module 0x07 codes are the AMS's own: a printer without one cannot raise them */
        if (it && ((it->attr >> 24) != 0x07 || p->n_ams))
            sim_hms_add(p, it->attr, it->code, p->clock_s + sim_uniform(p, 120, 900));
    }
    if (p->phase == SIM_PAUSE && p->resume_at_s > 0 && p->clock_s >= p->resume_at_s) {
        sim_tray *t = sim_tray_at(p, p->tray_now);
        if (t)
            sim_spool_replace(p, t, t->mat);
        sim_hms_remove(p, sim_runout_attr(p->tray_now), SIM_RUNOUT_CODE);
        pd_info(SIM_LOG, "%s: new spool in tray %d, resuming", p->serial, p->tray_now);
        sim_resume(p);
    }
    if (!idle)
        return;
    for (int a = 0; a < p->n_ams; a++)
        for (int s = 0; s < SIM_TRAYS; s++) {
            sim_tray *t = &p->ams[a].tray[s];
            bool low = t->present && t->rfid && t->remain < 10;
            if ((low && sim_frand(&p->rng) < 2 * hours) || sim_frand(&p->rng) < 0.02 * hours)
                sim_spool_replace(p, t, low ? t->mat : NULL);
        }
    if (p->light && sim_frand(&p->rng) < 2 * hours) {
        p->light = false;
        p->dirty |= SIM_G_LIGHTS;
    }
}

static void sim_step_timers(sim_printer *p, double now_ms)
{
    if (p->error_clear_ms > 0 && now_ms >= p->error_clear_ms) {
        p->error_clear_ms = 0;
        sim_set_error(p, 0);
    }
    if (p->hold && now_ms >= p->hold_until_ms) {
        json_decref(p->hold);
        p->hold = NULL;
        p->dirty |= SIM_G_ALL; /* the simulation's own values replace what was pinned */
    }
    for (int i = 0; i < p->n_hms; i++)
        if (p->hms[i].clear_at > 0 && p->clock_s >= p->hms[i].clear_at)
            sim_hms_remove_at(p, i--);
}

void sim_printer_tick(sim_printer *p, double now_ms, double max_step_ms)
{
    const sim_opts *o = sim_options(p->sim);
    sim_phase before = p->phase;
    /* A tick moves simulated time on by what passed, but never by more than max_step_ms: a
     * simulator kept from running (a loaded machine, a debugger) slows down rather than jumps,
     * so its reports keep their granularity. At --speedup 4 a layer may last a quarter of a
     * second; half a second without the CPU would otherwise put a tool change two layers
     * late in the report that shows it, and the accounting would be judged against the
     * simulator's stall rather than against what a printer reports. */
    double dt = fmin(fmax(now_ms - p->last_ms, 0), max_step_ms) / 1000.0 * o->speedup;
    p->last_ms = now_ms;
    p->clock_s += dt;
    sim_step_thermal(p, dt);
    sim_step_noise(p, dt);
    if (p->phase == SIM_PREPARE)
        sim_step_prepare(p, dt);
    else if (p->phase == SIM_RUNNING)
        sim_step_running(p, dt);
    if (o->auto_jobs)
        sim_step_auto(p, dt);
    sim_step_timers(p, now_ms);
    if (p->dirty) {
        json_t *d = sim_report_delta(p, p->dirty);
        if (!d || sim_send(p, d, true))
            p->dirty = 0;
    }
    sim_log_phase(p, before);
}

/* ---- setup ------------------------------------------------------------------------- */

void sim_printer_init(sim_printer *p, struct sim *s, const sim_model *m, const char *serial, uint64_t seed,
                      bool auto_jobs, double now_ms)
{
    memset(p, 0, sizeof *p);
    p->sim = s;
    p->model = m;
    snprintf(p->serial, sizeof p->serial, "%s", serial);
    snprintf(p->report_topic, sizeof p->report_topic, "device/%s/report", serial);
    p->rng = seed;
    p->seq = (unsigned)sim_irand(&p->rng, 2000, 40000);
    p->last_ms = now_ms;
    p->ambient = sim_uniform(p, 21, 27);
    p->nozzle = p->ambient + sim_uniform(p, 0, 2);
    p->bed = p->ambient + sim_uniform(p, 0, 1);
    p->chamber = p->ambient + 1;
    p->wifi_base = -sim_irand(&p->rng, 38, 70);
    p->wifi = p->wifi_base;
    p->spd_lvl = 2;
    p->light = sim_frand(&p->rng) < 0.7;
    p->work_light = "flashing";
    p->tray_now = p->tray_pre = p->tray_tar = m->ams ? SIM_TRAY_NONE : SIM_TRAY_EXT;
    p->local_slot = (m->flags & SIM_F_LOCAL_SLOT) != 0;
    p->snow = true;
    sim_spool_remove(p, &p->ext);
    if (!m->ams)
        sim_spool_new(p, &p->ext, sim_material_find("PETG"), "BCBCBCFF", false, -1);
    p->n_ams = m->ams ? m->n_ams : 0;
    for (int a = 0; a < p->n_ams; a++) {
        sim_ams *u = &p->ams[a];
        u->id = a;
        u->temp = p->ambient + 2;
        u->humidity_raw = sim_irand(&p->rng, 8, 45);
        const sim_material *usual = sim_material_pick(&p->rng);
        for (int sl = 0; sl < SIM_TRAYS; sl++) {
            sim_tray *t = &u->tray[sl];
            sim_spool_remove(p, t);
            if (a == 0 && sl == 1) {
                /* a second spool of the first one: what AMS backup rolls over to */
                sim_spool_new(p, t, u->tray[0].mat, u->tray[0].colour, true, 100);
            } else if (sl == 0 || sim_frand(&p->rng) >= 0.1) {
                bool rfid = sl == 0 || sim_frand(&p->rng) < 0.8;
                sim_spool_new(p, t, sim_frand(&p->rng) < 0.7 ? usual : sim_material_pick(&p->rng),
                              sim_colour_pick(&p->rng)->rgba, rfid, sim_irand(&p->rng, 5, 100));
            }
        }
    }
    p->ams_version = (unsigned)sim_irand(&p->rng, 1, 30000);
    /* in a demo, most printers are already busy when the dashboard first looks */
    if (auto_jobs && sim_frand(&p->rng) < 0.6) {
        sim_job_start_auto(p);
        p->job.prep_done_s = p->job.prep_total_s;
        p->job.done_s = p->job.total_s * sim_uniform(p, 0.05, 0.9);
        p->nozzle = p->nozzle_target;
        p->bed = p->bed_target;
        sim_enter(p, SIM_RUNNING);
    } else {
        p->next_auto_s = sim_uniform(p, 5, 300);
    }
    p->dirty = 0; /* nothing has been reported yet: clients start with pushall */
}

void sim_printer_free(sim_printer *p)
{
    json_decref(p->hold);
    p->hold = NULL;
}

/* ---- JSON argument helpers ------------------------------------------------------------ */

/* An integer member in [lo, hi]; def when absent. False when present but wrong. */
static bool sim_arg_int(const json_t *o, const char *key, json_int_t lo, json_int_t hi, json_int_t def,
                        json_int_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!v) {
        *out = def;
        return true;
    }
    if (json_is_string(v)) { /* printers and tools send numbers as strings too */
        char *end;
        long long n = strtoll(json_string_value(v), &end, 10);
        if (end == json_string_value(v) || *end)
            return false;
        *out = n;
    } else if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else {
        return false;
    }
    return *out >= lo && *out <= hi;
}

static bool sim_arg_num(const json_t *o, const char *key, double lo, double hi, double def, double *out)
{
    const json_t *v = json_object_get(o, key);
    *out = v ? json_number_value(v) : def;
    return (!v || json_is_number(v)) && *out >= lo && *out <= hi;
}

static const char *sim_arg_str(const json_t *o, const char *key, const char *def)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : def;
}

/* "RRGGBB", "RRGGBBAA", optional '#', into upper-case RRGGBBAA */
static bool sim_parse_colour(const char *in, char out[9])
{
    if (*in == '#')
        in++;
    size_t n = strlen(in);
    if (n != 6 && n != 8)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
        out[i] = (char)(c >= 'a' ? c - 32 : c);
    }
    memcpy(out + n, "FF", 8 - n);
    out[8] = '\0';
    return true;
}

/* ---- request topic: commands ------------------------------------------------------------ */

typedef const char *(*sim_cmd_fn)(sim_printer *p, json_t *body); /* NULL = success, else reason */

static const char *sim_cmd_pushall(sim_printer *p, json_t *body)
{
    if (sim_send(p, sim_report_full(p), false))
        p->dirty = 0;
    return NULL;
}

static const char *sim_cmd_version(sim_printer *p, json_t *body)
{
    sim_send(p, sim_report_version(p, json_object_get(body, "sequence_id")), false);
    return NULL;
}

static const char *sim_cmd_pause(sim_printer *p, json_t *body)
{
    if (p->phase == SIM_RUNNING || p->phase == SIM_PREPARE)
        sim_pause(p, SIM_STAGE_USER);
    return NULL;
}

static const char *sim_cmd_resume(sim_printer *p, json_t *body)
{
    if (p->phase == SIM_PAUSE)
        sim_resume(p);
    return NULL;
}

static const char *sim_cmd_stop(sim_printer *p, json_t *body)
{
    if (sim_printer_busy(p))
        sim_job_fail(p, SIM_CANCELLED);
    return NULL;
}

static const char *sim_cmd_speed(sim_printer *p, json_t *body)
{
    json_int_t lvl;
    if (!sim_arg_int(body, "param", 1, 4, 0, &lvl))
        return "invalid param";
    sim_set_int(p, &p->spd_lvl, (int)lvl, SIM_G_SPEED);
    if (p->phase == SIM_RUNNING)
        sim_update_progress(p);
    return NULL;
}

/* Temperature G-codes take effect like on a printer; everything else is just accepted. */
static const char *sim_cmd_gcode(sim_printer *p, json_t *body)
{
    const char *g = sim_arg_str(body, "param", NULL);
    if (!g)
        return "invalid param";
    for (const char *line = g; *line;) {
        while (*line == ' ' || *line == '\t')
            line++;
        bool nozzle = !strncasecmp(line, "M104", 4) || !strncasecmp(line, "M109", 4);
        bool bed = !strncasecmp(line, "M140", 4) || !strncasecmp(line, "M190", 4);
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);
        const char *s = nozzle || bed ? line + 4 : end;
        while (s < end && *s != 'S' && *s != 's')
            s++;
        if (s < end) {
            double t = fmax(0, fmin(strtod(s + 1, NULL), nozzle ? 300 : 120));
            sim_set_temp(p, nozzle ? &p->nozzle_target : &p->bed_target, t, nozzle ? SIM_G_NOZZLE : SIM_G_BED);
        }
        line = eol ? eol + 1 : end;
    }
    return NULL;
}

/* ams_mapping: slicer filament i is fed from tray ams_mapping[i] (-1: the external spool);
 * entries the printer cannot feed from are left out, and with none left it picks a tray. */
static const char *sim_cmd_project(sim_printer *p, json_t *body)
{
    if (sim_printer_busy(p))
        return "device busy";
    const char *name = sim_arg_str(body, "subtask_name", sim_arg_str(body, "file", "project"));
    int trays[SIM_MAX_FIL], n = 0;
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(body, "ams_mapping"), i, m) {
        int tray = json_integer_value(m) == -1 ? SIM_TRAY_EXT : (int)json_integer_value(m);
        if (n < SIM_MAX_FIL && json_is_integer(m) && sim_tray_usable(sim_tray_at(p, tray)))
            trays[n++] = tray;
    }
    if (!n)
        trays[n++] = -1;
    const sim_job_template *t = sim_job_pick(&p->rng);
    double grams[SIM_MAX_FIL];
    for (int k = 0; k < n; k++)
        grams[k] = (double)t->grams / n;
    sim_job_start(p, name, t->layers, t->minutes, sim_uniform(p, 60, 180), trays, grams, n);
    return NULL;
}

static const char *sim_cmd_ledctrl(sim_printer *p, json_t *body)
{
    static const char *const modes[] = {"on", "off", "flashing"};
    const char *node = sim_arg_str(body, "led_node", ""), *mode = sim_arg_str(body, "led_mode", "");
    const char *m = NULL;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (!strcmp(mode, modes[i]))
            m = modes[i];
    if (!m)
        return "invalid led_mode";
    if (!strcmp(node, "chamber_light") || !strcmp(node, "chamber_light2"))
        p->light = strcmp(m, "off") != 0;
    else if (!strcmp(node, "work_light") && (p->model->flags & SIM_F_WORK_LIGHT))
        p->work_light = m;
    else if (strcmp(node, "heatbed_light")) /* H2: acked but never in lights_report */
        return "unsupported led_node";
    p->dirty |= SIM_G_LIGHTS;
    return NULL;
}

typedef struct sim_cmd {
    const char *category, *command;
    bool query; /* answered with data in every ack mode, never acked */
    sim_cmd_fn fn;
} sim_cmd;

static const sim_cmd sim_cmds[] = {
    {"pushing", "pushall", true, sim_cmd_pushall},
    {"pushing", "start", true, sim_cmd_pushall},
    {"info", "get_version", true, sim_cmd_version},
    {"print", "pause", false, sim_cmd_pause},
    {"print", "resume", false, sim_cmd_resume},
    {"print", "stop", false, sim_cmd_stop},
    {"print", "print_speed", false, sim_cmd_speed},
    {"print", "gcode_line", false, sim_cmd_gcode},
    {"print", "project_file", false, sim_cmd_project},
    {"system", "ledctrl", false, sim_cmd_ledctrl},
};

static void sim_ack(sim_printer *p, const char *category, const json_t *body, const char *reason)
{
    json_t *echo = json_deep_copy(body);
    if (!echo)
        return;
    json_object_set_new(echo, "result", json_string(reason ? "failed" : "success"));
    json_object_set_new(echo, "reason", json_string(reason ? reason : ""));
    sim_send(p, json_pack("{s:o}", category, echo), false);
}

static json_t *sim_parse(const sim_printer *p, const char *what, const char *payload, size_t len)
{
    json_error_t err;
    if (len > SIM_MAX_PAYLOAD) {
        pd_warn(SIM_LOG, "%s: %s of %zu bytes ignored: too large", p->serial, what, len);
        return NULL;
    }
    json_t *msg = json_loadb(payload, len, 0, &err);
    if (!json_is_object(msg)) {
        pd_warn(SIM_LOG, "%s: malformed %s ignored: %s", p->serial, what, msg ? "not an object" : err.text);
        json_decref(msg);
        return NULL;
    }
    return msg;
}

void sim_printer_request(sim_printer *p, const char *payload, size_t len)
{
    if (sim_now(p) < p->silent_until_ms) {
        pd_debug(SIM_LOG, "%s: silent, request ignored", p->serial);
        return;
    }
    json_t *msg = sim_parse(p, "request", payload, len);
    if (!msg)
        return;
    const char *category = NULL, *key;
    json_t *body = NULL, *v;
    json_object_foreach(msg, key, v) {
        if (json_is_object(v)) {
            category = key;
            body = v;
            break;
        }
    }
    const char *command = body ? sim_arg_str(body, "command", NULL) : NULL;
    if (!command) {
        pd_warn(SIM_LOG, "%s: request without category/command ignored", p->serial);
        goto out;
    }
    const sim_cmd *c = NULL;
    sim_phase before = p->phase;
    for (size_t i = 0; i < sizeof sim_cmds / sizeof sim_cmds[0]; i++)
        if (!strcmp(sim_cmds[i].category, category) && !strcmp(sim_cmds[i].command, command))
            c = &sim_cmds[i];
    pd_debug(SIM_LOG, "%s: %s.%s", p->serial, category, command);
    if (c && c->query) {
        c->fn(p, body);
        goto out;
    }
    /* control commands as firmware with each authorization behaviour handles them */
    switch (p->ack_mode) {
    case SIM_ACK_DROP:
        pd_info(SIM_LOG, "%s: %s.%s dropped (ack_mode drop)", p->serial, category, command);
        break;
    case SIM_ACK_FAIL:
        sim_ack(p, category, body, "some reason");
        break;
    case SIM_ACK_SIGNED:
        sim_ack(p, category, body, "mqtt message verify failed");
        break;
    case SIM_ACK_NORMAL:
        sim_ack(p, category, body, c ? c->fn(p, body) : "unsupported command");
        sim_log_phase(p, before);
        sim_wake(p);
        break;
    }
out:
    json_decref(msg);
}

/* ---- control topic: scripted scenarios -------------------------------------------------- */

typedef const char *(*sim_ctl_fn)(sim_printer *p, json_t *req); /* NULL = done, else error */

/* A tray as a control message names it: a global id (0-15, 254 external), or [unit, slot]
 * (unit 254/255: the external spool). -1 when there is no such tray. */
static int sim_tray_arg(sim_printer *p, const json_t *v)
{
    int tray = -1;
    if (json_is_integer(v)) {
        tray = (int)json_integer_value(v);
    } else if (json_is_array(v) && json_array_size(v) == 2 && json_is_integer(json_array_get(v, 0)) &&
               json_is_integer(json_array_get(v, 1))) {
        json_int_t unit = json_integer_value(json_array_get(v, 0)), slot = json_integer_value(json_array_get(v, 1));
        tray = unit >= 254 && unit <= 255 ? SIM_TRAY_EXT
               : unit >= 0 && unit < SIM_MAX_AMS && slot >= 0 && slot < SIM_TRAYS ? (int)(unit * 4 + slot) : -1;
    }
    return tray >= 0 && tray <= SIM_TRAY_EXT && sim_tray_at(p, tray) ? tray : -1;
}

static const char *sim_ctl_start_job(sim_printer *p, json_t *req)
{
    json_int_t layers, tray;
    double minutes, prepare_s, total;
    if (!sim_arg_int(req, "layers", 1, 100000, 100, &layers))
        return "layers must be 1-100000";
    if (!sim_arg_num(req, "minutes", 0.05, 100000, 30, &minutes))
        return "minutes must be 0.05-100000";
    /* scripted jobs start promptly: tests wait on RUNNING in real time */
    if (!sim_arg_num(req, "prepare_s", 0, 3600, 2, &prepare_s))
        return "prepare_s must be 0-3600";
    if (!sim_arg_int(req, "tray", -1, SIM_TRAY_EXT, -1, &tray) || (tray >= 0 && !sim_tray_at(p, (int)tray)))
        return "no such tray";
    const json_t *tl = json_object_get(req, "trays"), *gl = json_object_get(req, "grams");
    int trays[SIM_MAX_FIL] = {(int)tray}, n = 1;
    double grams[SIM_MAX_FIL];
    if (tl) {
        n = (int)json_array_size(tl);
        if (n < 1 || n > SIM_MAX_FIL)
            return "trays must list 1-8 trays";
        for (int i = 0; i < n; i++)
            if ((trays[i] = sim_tray_arg(p, json_array_get(tl, (size_t)i))) < 0)
                return "trays: no such tray";
    }
    if (json_is_array(gl)) {
        if ((int)json_array_size(gl) != n)
            return "grams must list one weight per tray";
        for (int i = 0; i < n; i++) {
            grams[i] = json_number_value(json_array_get(gl, (size_t)i));
            if (!json_is_number(json_array_get(gl, (size_t)i)) || grams[i] < 0 || grams[i] > 10000)
                return "grams must be 0-10000";
        }
    } else {
        if (!sim_arg_num(req, "grams", 0, 10000, minutes * 0.4, &total))
            return "grams must be 0-10000";
        for (int i = 0; i < n; i++)
            grams[i] = total / n;
    }
    sim_job_start(p, sim_arg_str(req, "name", "job"), (int)layers, minutes, prepare_s, trays, grams, n);
    return NULL;
}

static const char *sim_ctl_finish(sim_printer *p, json_t *req)
{
    if (!sim_printer_busy(p))
        return "no job";
    sim_enter(p, SIM_FINISH);
    return NULL;
}

static const char *sim_ctl_fail(sim_printer *p, json_t *req)
{
    json_int_t error;
    if (!sim_printer_busy(p))
        return "no job";
    if (!sim_arg_int(req, "error", 1, 0xFFFFFFFF, SIM_DEFAULT_FAIL, &error))
        return "error must be a 32-bit print_error";
    sim_job_fail(p, (uint32_t)error);
    return NULL;
}

static const char *sim_ctl_hms_raise(sim_printer *p, json_t *req)
{
    json_int_t attr, code;
    if (!sim_arg_int(req, "attr", 1, 0xFFFFFFFF, 0, &attr) || !sim_arg_int(req, "code", 1, 0xFFFFFFFF, 0, &code))
        return "attr and code must be non-zero 32-bit integers";
    sim_hms_add(p, (uint32_t)attr, (uint32_t)code, 0);
    return NULL;
}

static const char *sim_ctl_hms_clear(sim_printer *p, json_t *req)
{
    json_int_t attr, code;
    if (!sim_arg_int(req, "attr", 0, 0xFFFFFFFF, 0, &attr) || !sim_arg_int(req, "code", 0, 0xFFFFFFFF, 0, &code))
        return "attr and code must be 32-bit integers";
    for (int i = 0; i < p->n_hms; i++)
        if (!attr || (p->hms[i].attr == attr && (!code || p->hms[i].code == code)))
            sim_hms_remove_at(p, i--);
    return NULL;
}

static const char *sim_ctl_swap_spool(sim_printer *p, json_t *req)
{
    json_int_t ams, slot, remain;
    char colour[9];
    if (!sim_arg_int(req, "ams", 0, SIM_TRAY_EXT, 0, &ams) || !sim_arg_int(req, "slot", 0, SIM_TRAYS - 1, 0, &slot))
        return "ams must be a unit id (254 = external spool) and slot 0-3";
    int tray = ams == SIM_TRAY_EXT ? SIM_TRAY_EXT : (int)(ams * 4 + slot);
    sim_tray *t = ams < SIM_MAX_AMS || ams == SIM_TRAY_EXT ? sim_tray_at(p, tray) : NULL;
    if (!t)
        return "no such AMS slot";
    if (json_is_true(json_object_get(req, "empty"))) {
        sim_spool_remove(p, t);
        return NULL;
    }
    const char *type = sim_arg_str(req, "type", NULL);
    const sim_material *m = type ? sim_material_find(type) : (t->mat ? t->mat : sim_material_find("PLA"));
    if (!m)
        return "unknown filament type";
    if (!sim_parse_colour(sim_arg_str(req, "color", sim_colour_pick(&p->rng)->rgba), colour))
        return "color must be RRGGBB or RRGGBBAA";
    if (!sim_arg_int(req, "remain", 0, 100, 100, &remain))
        return "remain must be 0-100";
    const json_t *rfid = json_object_get(req, "rfid");
    sim_spool_new(p, t, m, colour, !json_is_false(rfid), (double)remain);
    sim_hms_remove(p, sim_runout_attr(tray), SIM_RUNOUT_CODE);
    return NULL;
}

static const char *sim_ctl_set(sim_printer *p, json_t *req)
{
    json_t *print = json_object_get(req, "print");
    double hold_s;
    if (!json_is_object(print))
        return "print must be an object";
    if (!sim_arg_num(req, "hold_s", 0, 3600, 10, &hold_s))
        return "hold_s must be 0-3600";
    json_t *out = json_deep_copy(print);
    if (!out)
        return "out of memory";
    json_object_set_new(out, "command", json_string("push_status"));
    json_object_set_new(out, "msg", json_integer(1));
    json_object_set_new(out, "sequence_id", json_sprintf("%u", ++p->seq));
    sim_send(p, json_pack("{s:o}", "print", out), false);
    /* hold the values so the simulation does not overwrite them before a test reads them */
    if (hold_s > 0) {
        if (!p->hold)
            p->hold = json_object();
        json_object_update(p->hold, print);
        p->hold_until_ms = sim_now(p) + hold_s * 1000.0;
    }
    return NULL;
}

static const char *sim_ctl_silence(sim_printer *p, json_t *req)
{
    double s;
    if (!sim_arg_num(req, "seconds", 0, 3600, 10, &s))
        return "seconds must be 0-3600";
    p->silent_until_ms = sim_now(p) + s * 1000.0;
    return NULL;
}

static const char *sim_ctl_ack_mode(sim_printer *p, json_t *req)
{
    static const char *const names[] = {"normal", "drop", "fail", "signed"};
    const char *mode = sim_arg_str(req, "mode", "");
    for (int i = 0; i < 4; i++) {
        if (!strcmp(mode, names[i])) {
            p->ack_mode = (sim_ack_mode)i;
            p->dirty |= SIM_G_FUN;
            return NULL;
        }
    }
    return "mode must be normal, drop, fail or signed";
}

/* How the firmware reports the tray feeding: `tray_now` "local" (a unit's own slot, as P2S,
 * X1C with several AMS and H2 send it) or "global", and whether the extruders carry `snow`. */
static const char *sim_ctl_firmware(sim_printer *p, json_t *req)
{
    const char *now = sim_arg_str(req, "tray_now", p->local_slot ? "local" : "global");
    const json_t *snow = json_object_get(req, "snow");
    if (strcmp(now, "local") && strcmp(now, "global"))
        return "tray_now must be local or global";
    if (snow && !json_is_boolean(snow))
        return "snow must be true or false";
    p->local_slot = !strcmp(now, "local");
    if (snow)
        p->snow = json_is_true(snow);
    p->dirty |= SIM_G_AMS_NOW | SIM_G_NOZZLE;
    return NULL;
}

static const char *sim_ctl_raw(sim_printer *p, json_t *req)
{
    const json_t *payload = json_object_get(req, "payload");
    if (!json_is_string(payload))
        return "payload must be a string";
    sim_send_raw(p, json_string_value(payload), json_string_length(payload));
    return NULL;
}

static const struct {
    const char *action;
    sim_ctl_fn fn;
} sim_ctls[] = {
    {"start_job", sim_ctl_start_job}, {"finish", sim_ctl_finish},   {"fail", sim_ctl_fail},
    {"hms_raise", sim_ctl_hms_raise}, {"hms_clear", sim_ctl_hms_clear},
    {"swap_spool", sim_ctl_swap_spool}, {"set", sim_ctl_set},      {"silence", sim_ctl_silence},
    {"ack_mode", sim_ctl_ack_mode},   {"raw", sim_ctl_raw},      {"firmware", sim_ctl_firmware},
};

void sim_printer_control(sim_printer *p, const char *payload, size_t len)
{
    json_t *req = sim_parse(p, "control message", payload, len);
    if (!req)
        return;
    const char *action = sim_arg_str(req, "action", "");
    const char *err = "unknown action";
    sim_phase before = p->phase;
    for (size_t i = 0; i < sizeof sim_ctls / sizeof sim_ctls[0]; i++)
        if (!strcmp(sim_ctls[i].action, action))
            err = sim_ctls[i].fn(p, req);
    if (err)
        pd_warn(SIM_LOG, "%s: control %s: %s", p->serial, action, err);
    else
        pd_info(SIM_LOG, "%s: control %s", p->serial, action);
    sim_log_phase(p, before);
    sim_wake(p);
    json_decref(req);
}

/* printdeck-sim: plays many Bambu Lab printers over ONE MQTT connection to a broker that
 * stands in for the printers' own brokers (docs/simulator.md). One libuv loop, no threads.
 *
 *   sim.c      options, the MQTT client driven by the loop, scheduling, topic dispatch
 *   printer.c  one printer's behaviour: thermals, jobs, AMS, HMS, commands, control actions
 *   report.c   the JSON the printer sends: full/partial push_status, get_version, acks
 *   model.c    catalogues: models, AMS kinds, materials, colours, jobs, incidents; the PRNG */
#ifndef PD_SIM_H
#define PD_SIM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SIM_MAX_PRINTERS 10000
#define SIM_MAX_AMS      4
#define SIM_TRAYS        4
#define SIM_MAX_HMS      8
#define SIM_SERIAL_MAX   31
#define SIM_MAX_PAYLOAD  (64 * 1024) /* larger requests/control messages are refused */
#define SIM_TRAY_NONE    255
#define SIM_TRAY_EXT     254

/* ---- catalogues (model.c) ---------------------------------------------------------- */

/* What a model's firmware reports; the report builders switch on these, never on names. */
enum {
    SIM_F_MODERN       = 1u << 0, /* X1 fw 01.09+/P2S/H2 key set: device.*, fun, job, care, … */
    SIM_F_CHAMBER_FLAT = 1u << 1, /* a real top-level chamber_temper besides device.ctc */
    SIM_F_VT_TRAY      = 1u << 2, /* external spool as vt_tray */
    SIM_F_VIR_SLOT     = 1u << 3, /* external spool(s) as vir_slot[] */
    SIM_F_WORK_LIGHT   = 1u << 4,
    SIM_F_LIGHT2       = 1u << 5, /* chamber_light2 (H2) */
    SIM_F_RTSP         = 1u << 6, /* RTSPS camera: ipcam.rtsp_url */
    SIM_F_XCAM_AI      = 1u << 7, /* lidar/AI xcam block (and first-layer HMS) */
    SIM_F_XCAM_PLATE   = 1u << 8, /* xcam with only buildplate_marker_detector (A1) */
    SIM_F_DUAL         = 1u << 9, /* two extruders in device.extruder.info */
    SIM_F_LOCAL_SLOT   = 1u << 10, /* tray_now/pre/tar name an AMS unit's own slot (0-3) */
};

typedef struct sim_ams_kind {
    const char *module;  /* get_version module name before "/<id>" */
    const char *hw;
    const char *product; /* "AMS" → "AMS (1)" when numbered */
    const char *sw;
    bool sensors;        /* humidity_raw, temp, dry_time, info: the AMS Lite has none */
    bool numbered;
} sim_ams_kind;

typedef struct sim_model {
    const char *key;          /* "X1C": what --models takes and printdeck's model keys */
    const char *product;      /* ota product_name */
    const char *prefix;       /* serial prefix; the first 3 characters identify the model */
    const char *fw;           /* ota sw_ver */
    const char *hw[3];        /* mc, th, ap/esp32 hw_ver in get_version */
    const char *nozzle_type;
    uint64_t fun;             /* "fun" feature flags; 0 = not reported */
    unsigned flags;
    const sim_ams_kind *ams;  /* NULL: no AMS, prints from the external spool */
    int n_ams;
    int tray_state;           /* tray "state" of a loaded slot; 0 = not reported */
} sim_model;

typedef struct sim_material {
    const char *type, *sub_brand, *info_idx, *generic_idx, *code;
    int nozzle_min, nozzle_max, nozzle, bed, dry_temp, dry_hours;
    double k;
    int weight;               /* how often it is picked */
} sim_material;

typedef struct sim_colour {
    const char *rgba, *code;
} sim_colour;

typedef struct sim_job_template {
    const char *name;
    int layers, minutes, grams;
} sim_job_template;

typedef struct sim_incident {
    uint32_t attr, code;
    unsigned needs;           /* model flags required, 0 = any */
} sim_incident;

const sim_model *sim_model_find(const char *key);
const sim_model *sim_model_from_serial(const char *serial);
void sim_model_list(char *buf, size_t len); /* "X1C,P1P,…" for --help */
const sim_material *sim_material_find(const char *type);
const sim_material *sim_material_pick(uint64_t *rng);
const sim_colour *sim_colour_pick(uint64_t *rng);
const sim_colour *sim_colour_find(const char *rgba);
const sim_job_template *sim_job_pick(uint64_t *rng);
const sim_incident *sim_incident_pick(uint64_t *rng, unsigned model_flags);
uint32_t sim_failure_pick(uint64_t *rng);
/* stg: the preparation stages a job walks through (stg_cur ids, docs/bambu-protocol.md §4.1) */
const int *sim_prepare_stages(size_t *n);
int sim_speed_mag(int level); /* spd_lvl 1-4 → spd_mag in % */

uint64_t sim_rand(uint64_t *s);
double sim_frand(uint64_t *s);                 /* [0, 1) */
int sim_irand(uint64_t *s, int lo, int hi);    /* [lo, hi] */
void sim_rand_hex(uint64_t *s, char *out, size_t digits); /* upper-case, NUL-terminated */

/* ---- one printer (printer.c) -------------------------------------------------------- */

typedef enum sim_phase { SIM_IDLE, SIM_PREPARE, SIM_RUNNING, SIM_PAUSE, SIM_FINISH, SIM_FAILED } sim_phase;
typedef enum sim_ack_mode { SIM_ACK_NORMAL, SIM_ACK_DROP, SIM_ACK_FAIL, SIM_ACK_SIGNED } sim_ack_mode;

/* Report groups: a partial report carries the groups whose reported value changed. */
enum {
    SIM_G_NOZZLE   = 1u << 0,
    SIM_G_BED      = 1u << 1,
    SIM_G_CHAMBER  = 1u << 2,
    SIM_G_FANS     = 1u << 3,
    SIM_G_WIFI     = 1u << 4,
    SIM_G_PROGRESS = 1u << 5,
    SIM_G_JOB      = 1u << 6,
    SIM_G_AMS      = 1u << 7,  /* the whole ams block, as the P1S sends it */
    SIM_G_AMS_NOW  = 1u << 8,  /* only tray_now/pre/tar */
    SIM_G_EXT      = 1u << 9,  /* vt_tray / vir_slot */
    SIM_G_HMS      = 1u << 10,
    SIM_G_LIGHTS   = 1u << 11,
    SIM_G_SPEED    = 1u << 12,
    SIM_G_FUN      = 1u << 13,
    SIM_G_ALL      = (1u << 14) - 1,
};

typedef struct sim_tray {
    bool present;
    bool rfid;                /* Bambu spool: uuid, tag, weight and remain are known */
    const sim_material *mat;
    char colour[9];
    char uuid[33];
    char tag_uid[17];
    double remain;            /* %, -1 unknown */
    unsigned spool;           /* which spool: each one loaded gets the printer's next number */
} sim_tray;

typedef struct sim_ams {
    int id;
    double temp, humidity_raw;
    sim_tray tray[SIM_TRAYS];
} sim_ams;

typedef struct sim_hms {
    uint32_t attr, code;
    double clear_at;          /* sim clock (s) when an incident clears itself; 0 = held */
} sim_hms;

#define SIM_MAX_FIL 8          /* filaments of one job */
#define SIM_TRUTH_MAX (2 * (SIM_MAX_AMS * SIM_TRAYS + 1))

/* What a job took off one spool in one tray: the ground truth accounting tests compare with. */
typedef struct sim_truth {
    int tray;                 /* global tray id */
    unsigned spool;           /* sim_tray.spool: a spool swapped in the tray is another entry */
    char uuid[33];
    double grams;
} sim_truth;

typedef struct sim_job {
    char name[64];
    int layers;
    double total_s, done_s;   /* print time at 100 % speed, and how much of it is done */
    double prep_total_s, prep_done_s;
    double grams;             /* every filament together */
    /* Filament i (slicer filament i+1) is fed from fil_tray[i] (an AMS rollover moves it)
     * and takes fil_grams[i], an equal share on every layer; a layer prints the filaments in
     * turn, ascending on odd layers and descending on even ones, so one tool change joins two
     * layers (as a slicer orders them). */
    int n_fil;
    int fil_tray[SIM_MAX_FIL];
    double fil_grams[SIM_MAX_FIL];
    const sim_material *fil_mat[SIM_MAX_FIL];  /* as sliced, for the 3MF */
    char fil_colour[SIM_MAX_FIL][9];
    double fed_g;             /* grams fed so far along that schedule */
    /* A spool ran out and the AMS refills filament tail_fil from tray tail_backup once the
     * tail_g grams left in the tube (from tail_tray) are used; tray_now reads 255 meanwhile. */
    double tail_g;
    int tail_fil, tail_tray, tail_backup;
    int cur_layer, cur_k;     /* where feeding is: layer index, k-th filament of that layer */
    double seg_done;          /* grams of that layer's share of that filament already fed */
    int n_truth;
    sim_truth truth[SIM_TRUTH_MAX];
    double fail_at;           /* fraction of done_s at which an auto job fails; <0 never */
    uint32_t fail_error;
    unsigned task_id;
} sim_job;

struct sim;

typedef struct sim_printer {
    struct sim *sim;
    const sim_model *model;
    char serial[SIM_SERIAL_MAX + 1];
    char report_topic[SIM_SERIAL_MAX + 24];
    uint64_t rng;
    unsigned seq;             /* the printer's own sequence_id counter */
    double clock_s;           /* simulated seconds since start (runs --speedup × real time) */
    double last_ms, next_due_ms;
    unsigned dirty;           /* groups to send in the next partial report */

    sim_phase phase;
    sim_job job;
    int stage;                /* stg_cur */
    int prepare_pct, pct, remaining_min, layer; /* as reported, derived from the job */
    uint32_t print_error;
    double error_clear_ms;    /* real ms; 0 = nothing to clear */
    double next_auto_s;       /* sim clock when an idle printer starts its next auto job */
    double resume_at_s;       /* auto mode: sim clock when a runout pause is fixed; 0 none */

    double ambient, nozzle, nozzle_target, bed, bed_target, chamber;
    int fan_part, fan_aux, fan_chamber, fan_heatbreak; /* 0-15 steps */
    int wifi_base, wifi;
    int spd_lvl;

    int n_ams;
    sim_ams ams[SIM_MAX_AMS];
    sim_tray ext;             /* external spool holder */
    int tray_now, tray_pre, tray_tar;
    unsigned ams_version;
    unsigned spools;          /* spools loaded so far: the next one's number */
    /* how the firmware reports the tray feeding (the `firmware` control action): tray_now as
     * a unit's own slot (the model's default), and the extruders' `snow` */
    bool local_slot, snow;

    int n_hms;
    sim_hms hms[SIM_MAX_HMS];
    bool light;               /* chamber light */
    const char *work_light;   /* "on" | "off" | "flashing" */

    sim_ack_mode ack_mode;
    double silent_until_ms;
    json_t *hold;             /* keys pinned by the "set" action, top-level key → value */
    double hold_until_ms;
} sim_printer;

void sim_printer_init(sim_printer *p, struct sim *s, const sim_model *m, const char *serial,
                      uint64_t seed, bool auto_jobs, double now_ms);
void sim_printer_free(sim_printer *p);
/* Advances the simulation to now_ms, by at most max_step_ms of real time (then × --speedup),
 * and sends a partial report of what changed. */
void sim_printer_tick(sim_printer *p, double now_ms, double max_step_ms);
bool sim_printer_busy(const sim_printer *p); /* a job is preparing, running or paused */
/* A message on device/<serial>/request and on printdeck-sim/<serial>/control. */
void sim_printer_request(sim_printer *p, const char *payload, size_t len);
void sim_printer_control(sim_printer *p, const char *payload, size_t len);

/* ---- reports (report.c) ------------------------------------------------------------- */

int sim_report_init(void);    /* parses the static key templates once; 0 on success */
void sim_report_cleanup(void);
json_t *sim_report_full(sim_printer *p);
json_t *sim_report_delta(sim_printer *p, unsigned groups); /* NULL when nothing to send */
json_t *sim_report_version(const sim_printer *p, json_t *sequence_id);
const char *sim_phase_name(sim_phase ph); /* the gcode_state string */

/* ---- transport (sim.c) -------------------------------------------------------------- */

typedef struct sim_opts {
    const char *host, *user, *password;
    int port;
    int printers;
    const char *models, *serials, *serial_prefix, *serials_file;
    bool list;
    int interval_ms;
    double speedup;
    uint64_t seed;
    bool auto_jobs;
    double rate;              /* benchmark: total partial reports per second, 0 = off */
    const char *storage_dir;  /* each printer's FTPS root is storage_dir/<serial>/; NULL none */
    int camera_port;          /* port-6000 cameras: printer i on camera_port + i; 0 none */
    const char *cert_dir;     /* <serial>.crt and .key for the cameras' TLS */
    const char *access_code;  /* what the cameras' auth packet must carry */
    double camera_fps;
    int camera_max;           /* connections a camera feeds at once; more stall */
    int camera_rtsp_w, camera_rtsp_h;  /* the RTSPS cameras' picture (1280x720) */
    const char *camera_log;   /* each frame's number and send time appended here; NULL none */
} sim_opts;

/* camera.c: the port-6000 cameras of the A1 and P1 models, on the loop (docs/simulator.md).
 * start: 0, or -1 after logging why; stop closes the handles, free what is left after the
 * loop has run. */
int sim_camera_start(uv_loop_t *loop, sim_printer *printers, size_t n, const sim_opts *o);
void sim_camera_stop(void);
void sim_camera_free(void);

/* rtsp.c: the RTSPS side of the cameras of the X1, P2S, H2 and X2D models, driven by
 * camera.c's TLS connections (docs/simulator.md). */
typedef struct sim_h264 sim_h264;
/* An H.264 encoder of w x h RGB pictures (FFmpeg: libx264, else openh264); NULL: none. */
sim_h264 *sim_h264_new(int w, int h, int fps);
void sim_h264_free(sim_h264 *e);
/* Encodes a picture; *au (Annex B, valid until the next call) and *len; key: forced IDR. */
int sim_h264_encode(sim_h264 *e, const unsigned char *rgb, bool key, const unsigned char **au,
                    size_t *len);

typedef struct sim_rtsp sim_rtsp;
typedef struct sim_rtsp_ctx {
    const char *serial, *code;
    int port;
    int *sessions, *peak, max_sessions;   /* the camera's, shared by its connections */
    sim_h264 *enc;
} sim_rtsp_ctx;
/* One connection's RTSP; out sends plaintext on it. */
sim_rtsp *sim_rtsp_new(const sim_rtsp_ctx *ctx, void (*out)(void *conn, const void *d, size_t n),
                       void *conn);
void sim_rtsp_free(sim_rtsp *r);
/* Requests as they come; -1: close the connection (after TEARDOWN, or garbage). */
int sim_rtsp_input(sim_rtsp *r, const unsigned char *d, size_t n);
/* Whether a playing session waits for a key frame. */
bool sim_rtsp_wants_key(const sim_rtsp *r);
/* Sends an access unit to a playing session as RTP over the connection. */
void sim_rtsp_send(sim_rtsp *r, const unsigned char *au, size_t n, bool key, uint32_t ts);

/* storage.c: writes the job's <name>.gcode.3mf into dir/<serial>/: its filaments as
 * slice_info.config and plate_1.gcode give them. */
void sim_storage_write_job(const sim_printer *p, const char *dir);
/* storage.c: dir/<serial>/<name>.truth.json, what the job took off each spool of each tray:
 * {"job","trays":[{"unit","slot","spool","uuid","grams"}]} (unit 255 = external spool; spool
 * numbers the spools a printer loaded, so a swap in a tray is a second entry). */
void sim_storage_write_truth(const sim_printer *p, const char *dir);
/* The filament order of layer index l (0-based): k-th filament printed. */
int sim_job_filament_at(const sim_job *j, int layer, int k);

/* Publishes msg on the printer's report topic unless the printer is silenced; steals msg.
 * A partial report is refused (false) while the connection is backed up, so the caller
 * keeps its dirty groups and sends them later instead of growing a queue. */
bool sim_send(sim_printer *p, json_t *msg, bool partial);
void sim_send_raw(sim_printer *p, const char *payload, size_t len); /* verbatim, for bad input tests */
double sim_now_ms(const struct sim *s);
const sim_opts *sim_options(const struct sim *s);
/* Makes the scheduler send this printer's partial report on its next tick. */
void sim_wake(sim_printer *p);

#endif

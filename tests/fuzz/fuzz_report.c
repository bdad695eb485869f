/* libFuzzer target for everything a printer's report reaches: classification, the merge into
 * a live base, typed extraction, the API JSON, the patch an event stream sends for the change
 * and the diff. Every run starts from the same base (a trimmed P1S/H2D-like full push) so a
 * crash reproduces from its input alone. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/bus.h"
#include "core/jw.h"
#include "printer/hms.h"
#include "printer/model.h"
#include "printer/report.h"
#include "printer/state.h"

#define FUZZ_MAX_INPUT (64 * 1024) /* what the link's max_payload lets through, roughly */

static const char BASE[] =
    "{\"gcode_state\":\"RUNNING\",\"mc_percent\":40,\"layer_num\":12,\"total_layer_num\":80,"
    "\"nozzle_temper\":220,\"nozzle_target_temper\":220,\"bed_temper\":60,"
    "\"bed_target_temper\":60,\"chamber_temper\":30,\"cooling_fan_speed\":\"15\","
    "\"big_fan1_speed\":\"0\",\"big_fan2_speed\":\"5\",\"heatbreak_fan_speed\":\"15\","
    "\"fan_gear\":0,\"spd_lvl\":2,\"spd_mag\":100,\"wifi_signal\":\"-50dBm\","
    "\"lights_report\":[{\"node\":\"chamber_light\",\"mode\":\"on\"}],"
    "\"nozzle_diameter\":\"0.4\",\"nozzle_type\":\"HS01\",\"print_error\":0,"
    "\"fun\":\"41AFFF9CFF\",\"stat\":\"46A58008\",\"home_flag\":-1058546177,"
    "\"hms\":[{\"attr\":201327360,\"code\":196615}],"
    "\"device\":{\"bed\":{\"info\":{\"temp\":6553700}},\"ctc\":{\"info\":{\"temp\":3932208}},"
    "\"extruder\":{\"state\":2,\"info\":[{\"id\":0,\"temp\":14745864}]},"
    "\"nozzle\":{\"info\":[{\"id\":0,\"type\":\"HS01\",\"diameter\":0.4}]},"
    "\"airduct\":{\"parts\":[{\"id\":16,\"state\":50}]}},"
    "\"ams\":{\"tray_exist_bits\":\"1000f\",\"power_on_flag\":false,\"tray_now\":\"1\","
    "\"ams\":[{\"id\":\"0\",\"humidity\":\"4\",\"humidity_raw\":\"24\",\"temp\":\"26.2\","
    "\"tray\":[{\"id\":\"0\",\"tray_type\":\"PLA\",\"tray_color\":\"FF6A13FF\",\"remain\":47,"
    "\"tag_uid\":\"7B45A8FF00000100\",\"tray_uuid\":\"D99401E841C14828BF2E1B859AF2F770\","
    "\"tray_weight\":\"1000\",\"nozzle_temp_min\":\"190\",\"nozzle_temp_max\":\"230\","
    "\"k\":0.02},{\"id\":\"1\",\"state\":11}]},"
    "{\"id\":\"128\",\"tray\":[{\"id\":\"0\",\"tray_type\":\"PA-GF\"}]}]},"
    "\"vt_tray\":{\"id\":\"254\",\"tray_type\":\"PETG\",\"tray_color\":\"000000FF\"},"
    "\"vir_slot\":[{\"id\":\"254\",\"tray_type\":\"\"},{\"id\":\"255\",\"tray_type\":\"TPU\"}]}";

static size_t events;

static void on_event(const pd_event *ev, void *ud)
{
    (void)ud;
    /* touch what the event points at, as a subscriber would */
    if (ev->type == PD_EV_JOB_PHASE)
        events += strlen(ev->u.phase.from) + strlen(ev->u.phase.to);
    else if (ev->type & (PD_EV_HMS_RAISED | PD_EV_HMS_CLEARED))
        events += strlen(ev->u.hms.code) + (ev->u.hms.text ? strlen(ev->u.hms.text) : 0);
    else
        events++;
}

static char *render(const pd_state *st, pd_model model, size_t *len)
{
    pd_jw w;
    pd_jw_init(&w, 1 << 20);
    pd_jw_open(&w, '{');
    pd_jw_key(&w, "id");
    pd_jw_int(&w, 1);
    pd_state_write_json(st, model, &w);
    pd_jw_close(&w, '}');
    return pd_jw_finish(&w, len);
}

/* A patch as the event stream's clients apply it: objects member by member, null a value. */
static void apply_patch(json_t *target, json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach(patch, k, v) {
        json_t *t = json_object_get(target, k);
        if (json_is_object(v) && json_is_object(t))
            apply_patch(t, v);
        else
            json_object_set(target, k, v);
    }
}

static void use_state(const pd_state *old, const pd_state *cur, pd_model model, pd_bus *bus)
{
    size_t len, olen;
    char *text = render(cur, model, &len), *otext = render(old, model, &olen);
    json_t *back = text ? json_loadb(text, len, 0, NULL) : NULL;
    json_t *was = otext ? json_loadb(otext, olen, 0, NULL) : NULL;
    if (!back || !was)
        abort(); /* whatever the report held, the API JSON is JSON */
    /* the change as an event stream sends it: the old object patched is the new one */
    pd_buf patch;
    pd_buf_init(&patch, 1 << 20);
    pd_err rc = pd_jw_patch(otext, olen, text, len, "id", &patch);
    json_t *p = rc ? NULL : json_loadb(pd_buf_ptr(&patch), pd_buf_len(&patch), 0, NULL);
    if (rc != PD_ERR_INVAL && !p)
        abort();
    if (p) {
        apply_patch(was, p);
        if (!json_equal(was, back))
            abort();
    }
    json_decref(p);
    pd_buf_free(&patch);
    json_decref(back);
    json_decref(was);
    free(text);
    free(otext);
    pd_event base = {.printer_id = 1, .serial = "FUZZ", .ts_ms = 1};
    pd_state_diff(old, cur, model, bus, &base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    static json_t *seed; /* parsed once: the merge only reads it */
    if (!seed && !(seed = json_loads(BASE, 0, NULL)))
        abort();
    json_t *msg = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    json_t *base = json_object();
    pd_bus *bus = pd_bus_new();
    if (!msg || !base || !bus)
        goto out;
    pd_bus_subscribe(bus, PD_EV_ALL, on_event, NULL);
    pd_model model = (pd_model)(size % PD_MODEL__COUNT);
    if (pd_report_merge(base, seed, true))
        abort(); /* the seed is valid: a failure here is a bug */

    pd_state old, cur;
    pd_state_init(&old);
    pd_state_extract(&old, base, model);

    const char *category;
    json_t *body;
    pd_msg_kind kind = pd_report_classify(msg, &category, &body);
    if (kind == PD_MSG_VERSION) {
        char fw[32];
        model = pd_model_from_version(body, fw, sizeof fw);
    }
    /* merge whatever object there is, as both kinds, so the merge sees every input */
    const json_t *in = body ? body : msg;
    json_t *before = json_deep_copy(base);
    pd_err rc = pd_report_merge(base, in, kind == PD_MSG_FULL);
    if (rc && !json_equal(before, base))
        abort(); /* a refused merge must leave the base alone */
    json_decref(before);
    cur = old;
    pd_state_extract(&cur, base, model);
    use_state(&old, &cur, model, bus);

    if (!pd_report_merge(base, in, kind != PD_MSG_FULL)) {
        pd_state next = cur;
        pd_state_extract(&next, base, model);
        use_state(&cur, &next, model, bus);
    }

    if (size >= 8) {
        uint32_t attr, code;
        char buf[256];
        memcpy(&attr, data, 4);
        memcpy(&code, data + 4, 4);
        pd_hms_text(attr, code, model);
        pd_hms_url(attr, code, model, buf, sizeof buf);
        pd_print_error_text(attr, model);
    }
out:
    pd_bus_free(&bus);
    json_decref(base);
    json_decref(msg);
    return 0;
}

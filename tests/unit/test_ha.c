/* Home Assistant, the pure parts: the [homeassistant] keys' checks, discovery topics and config
 * messages in the shape HA reads, and the state messages of printers, slots and spools. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ha/ha.h"

static void topics_and_urls_are_checked(void **state)
{
    (void)state;
    char err[160];
    assert_int_equal(pd_ha_check_topic("homeassistant", err, sizeof err), PD_OK);
    assert_int_equal(pd_ha_check_topic("farm/printdeck", err, sizeof err), PD_OK);
    assert_int_not_equal(pd_ha_check_topic("", err, sizeof err), PD_OK);
    assert_int_not_equal(pd_ha_check_topic("a/#", err, sizeof err), PD_OK);
    assert_int_not_equal(pd_ha_check_topic("a/+/b", err, sizeof err), PD_OK);
    assert_int_not_equal(pd_ha_check_topic("/a", err, sizeof err), PD_OK);
    assert_int_not_equal(pd_ha_check_topic("a//b", err, sizeof err), PD_OK);
    assert_int_not_equal(pd_ha_check_topic("a b", err, sizeof err), PD_OK);

    bool tls;
    char host[64];
    int port;
    assert_int_equal(pd_ha_parse_url("mqtt://broker.lan", &tls, host, sizeof host, &port), PD_OK);
    assert_false(tls);
    assert_string_equal(host, "broker.lan");
    assert_int_equal(port, 1883);
    assert_int_equal(pd_ha_parse_url("mqtts://10.0.0.2:8884/", &tls, host, sizeof host, &port), PD_OK);
    assert_true(tls);
    assert_int_equal(port, 8884);
    assert_int_not_equal(pd_ha_parse_url("http://broker", &tls, host, sizeof host, &port), PD_OK);
    assert_int_not_equal(pd_ha_parse_url("mqtt://u:p@broker", &tls, host, sizeof host, &port), PD_OK);
    assert_int_not_equal(pd_ha_parse_url("mqtt://broker:0", &tls, host, sizeof host, &port), PD_OK);
    assert_int_not_equal(pd_ha_parse_url("mqtt://broker/x", &tls, host, sizeof host, &port), PD_OK);
    assert_int_equal(pd_ha_check_url("", err, sizeof err), PD_OK); /* off */
    assert_int_not_equal(pd_ha_check_url("mqtt://", err, sizeof err), PD_OK);
}

static void config_has_what_discovery_reads(void **state)
{
    (void)state;
    char topic[PD_HA_TOPIC_MAX];
    assert_int_equal(pd_ha_config_topic(topic, sizeof topic, "homeassistant", "sensor", "printdeck_S1", "progress"),
                     PD_OK);
    assert_string_equal(topic, "homeassistant/sensor/printdeck_S1/progress/config");
    assert_int_equal(pd_ha_config_topic(topic, 16, "homeassistant", "sensor", "n", "o"), PD_ERR_TOOBIG);

    const pd_ha_entity *progress = NULL;
    for (size_t i = 0; i < pd_ha_printer_nentities; i++)
        if (!strcmp(pd_ha_printer_entities[i].object, "progress"))
            progress = &pd_ha_printer_entities[i];
    assert_non_null(progress);
    const pd_ha_device dev = {"printdeck_S1", "Desk", "P1S", "Bambu Lab"};
    char *s = pd_ha_config_json(progress, "printdeck_S1", "printdeck/printer/S1", "printdeck/status", &dev);
    assert_non_null(s);
    json_t *o = json_loads(s, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "unique_id")), "printdeck_S1_progress");
    assert_string_equal(json_string_value(json_object_get(o, "state_topic")), "printdeck/printer/S1");
    assert_string_equal(json_string_value(json_object_get(o, "value_template")), "{{ value_json.progress }}");
    assert_string_equal(json_string_value(json_object_get(o, "unit_of_measurement")), "%");
    json_t *av = json_array_get(json_object_get(o, "availability"), 0);
    assert_string_equal(json_string_value(json_object_get(av, "topic")), "printdeck/status");
    json_t *d = json_object_get(o, "device");
    assert_string_equal(json_string_value(json_array_get(json_object_get(d, "identifiers"), 0)), "printdeck_S1");
    assert_string_equal(json_string_value(json_object_get(d, "model")), "P1S");
    assert_string_equal(json_string_value(json_object_get(d, "manufacturer")), "Bambu Lab");
    assert_null(json_object_get(o, "json_attributes_topic"));
    json_decref(o);
    free(s);
}

static void printer_state_says_the_finish_only_while_printing(void **state)
{
    (void)state;
    pd_state st;
    pd_state_init(&st);
    strcpy(st.gcode_state, "RUNNING");
    strcpy(st.subtask, "Benchy");
    st.progress = 42;
    st.remaining_min = 90;
    st.nozzle_temp = 219.96;
    st.bed_temp = 55;
    char *s = pd_ha_printer_state(&st, true, true, 1700000000); /* 2023-11-14T22:13:20Z */
    json_t *o = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
    assert_int_equal(json_integer_value(json_object_get(o, "progress")), 42);
    assert_string_equal(json_string_value(json_object_get(o, "finish")), "2023-11-14T23:43:00+00:00");
    assert_string_equal(json_string_value(json_object_get(o, "job")), "Benchy");
    assert_true(json_number_value(json_object_get(o, "nozzle_temp")) == 220.0);
    assert_string_equal(json_string_value(json_object_get(o, "online")), "ON");
    assert_string_equal(json_string_value(json_object_get(o, "prompt")), "ON");
    json_decref(o);
    free(s);
    strcpy(st.gcode_state, "FINISH");
    s = pd_ha_printer_state(&st, false, false, 1700000000);
    o = json_loads(s, 0, NULL);
    assert_true(json_is_null(json_object_get(o, "finish")));
    assert_true(json_is_null(json_object_get(o, "job")));
    assert_string_equal(json_string_value(json_object_get(o, "online")), "OFF");
    json_decref(o);
    free(s);
}

static void spool_low_by_its_own_its_filaments_or_the_default_threshold(void **state)
{
    (void)state;
    json_t *sp = json_loads("{\"id\":5,\"remaining_weight\":150.04,\"filament\":{\"name\":\"Matte Red\","
                            "\"material\":\"PLA\",\"color_hex\":\"FF0000\",\"vendor\":{\"name\":\"Acme\"}}}", 0, NULL);
    char *s = pd_ha_spool_state(sp, 0);
    json_t *o = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "low")), "OFF"); /* no threshold */
    assert_string_equal(json_string_value(json_object_get(o, "name")), "Acme Matte Red #5");
    assert_string_equal(json_string_value(json_object_get(o, "color")), "#FF0000");
    assert_true(json_number_value(json_object_get(o, "remaining_g")) == 150.0);
    json_decref(o);
    free(s);
    s = pd_ha_spool_state(sp, 200); /* the default */
    assert_non_null(strstr(s, "\"low\":\"ON\""));
    free(s);
    json_object_set_new(json_object_get(sp, "filament"), "low_stock_weight", json_real(100));
    s = pd_ha_spool_state(sp, 200); /* the filament's before the default */
    assert_non_null(strstr(s, "\"low\":\"OFF\""));
    free(s);
    json_object_set_new(sp, "low_stock_weight", json_real(300));
    s = pd_ha_spool_state(sp, 0); /* the spool's before the filament's */
    assert_non_null(strstr(s, "\"low\":\"ON\""));
    free(s);

    json_t *slot = json_pack("{s:i,s:i,s:O,s:{s:s}}", "unit", 0, "slot", 1, "spool", sp, "reported", "material", "PLA");
    s = pd_ha_slot_state(slot);
    o = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "spool")), "Acme Matte Red #5");
    assert_int_equal(json_integer_value(json_object_get(o, "spool_id")), 5);
    json_decref(o);
    free(s);
    json_object_del(slot, "spool");
    s = pd_ha_slot_state(slot);
    assert_non_null(strstr(s, "\"spool\":\"unknown\""));
    free(s);
    json_decref(slot);
    json_decref(sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(topics_and_urls_are_checked),
        cmocka_unit_test(config_has_what_discovery_reads),
        cmocka_unit_test(printer_state_says_the_finish_only_while_printing),
        cmocka_unit_test(spool_low_by_its_own_its_filaments_or_the_default_threshold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

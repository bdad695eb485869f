/* libFuzzer target for the dashboard's thresholds (src/api/thresholds.c): a PATCH body an admin's
 * browser, or anything holding an admin's credentials, sends; and the materials' hours table
 * (src/track/exposure.c) it becomes, which the configuration file and the environment also
 * give. Promises kept: a body the check passes applies to a configuration without error; a
 * table parsed formats to text that parses back to the same table. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "track/exposure.h"

#define FUZZ_MAX_INPUT (16 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const char *text)
{
    pd_exposure t, u;
    char err[160], back[PD_EXPOSURE_TEXT];
    if (pd_exposure_parse(text, &t, err, sizeof err))
        return;
    pd_exposure_format(&t, back, sizeof back);
    if (pd_exposure_parse(back, &u, err, sizeof err) || u.n != t.n)
        abort();
    for (size_t i = 0; i < t.n; i++)
        if (strcmp(t.e[i].material, u.e[i].material) || t.e[i].hours != u.e[i].hours)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    round_trip(text);

    json_t *body = json_loadb((const char *)data, size, 0, NULL);
    pd_threshold_change ch[PD_THRESHOLDS_MAX];
    size_t n;
    char key[64], why[256], err[256];
    if (body && !pd_api_thresholds_check(body, ch, &n, key, sizeof key, why, sizeof why)) {
        pd_config cfg;
        memset(&cfg, 0, sizeof cfg);
        for (size_t i = 0; i < n; i++)
            if (!ch[i].reset && pd_config_set(&cfg, ch[i].key, ch[i].text, err, sizeof err))
                abort();
        round_trip(cfg.alert_drying_hours);
    }
    json_decref(body);
    free(text);
    return 0;
}

/* Bambu RFID spools seen for the first time become inventory spools: the tag says the
 * material, sub-brand, colour, net weight, diameter and nozzle temperatures, and the AMS how
 * much is left (`remain`). The filament is found by vendor, material, name (the sub-brand) and
 * colour, or made; the vendor "Bambu Lab" likewise. Everything goes through pd_inv_create, so
 * it is validated and announced like a write from the API, inside the slot report's
 * transaction. */
#include <stdio.h>
#include <string.h>

#include "files/files.h"
#include "inventory/entities.h"

#define BAMBU_VENDOR "Bambu Lab"
#define DEFAULT_WEIGHT 1000   /* g: Bambu's usual spool when the tag says 0 */
#define DEFAULT_DIAMETER 1.75

/* An object's id made by pd_inv_create, or an error. */
static pd_err create(pd_inv *inv, pd_inv_entity en, json_t *body, int64_t *id)
{
    json_t *out = NULL;
    pd_inv_err e = {0};
    pd_err rc = body ? pd_inv_create(inv, en, body, &out, &e) : PD_ERR_NOMEM;
    if (!rc)
        *id = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    json_decref(body);
    return rc;
}

static pd_err vendor_id(pd_inv *inv, int64_t *id)
{
    pd_sqlv a[] = {PD_SQL_S(BAMBU_VENDOR)};
    pd_err rc = pd_db_scalar(inv->db, "SELECT id FROM vendor WHERE name = ? ORDER BY id LIMIT 1", a, 1, id);
    return rc != PD_ERR_NOTFOUND ? rc : create(inv, PD_INV_VENDOR, json_pack("{s:s}", "name", BAMBU_VENDOR), id);
}

static pd_err filament_id(pd_inv *inv, const pd_inv_reported *rep, int64_t vendor, const char *name,
                          const char *hex, int64_t *id)
{
    pd_sqlv a[] = {PD_SQL_I(vendor), PD_SQL_S(rep->material), PD_SQL_S(name), PD_SQL_S(hex)};
    pd_err rc = pd_db_scalar(inv->db, "SELECT id FROM filament WHERE vendor_id = ? AND material = ? AND "
                                      "name = ? AND lower(COALESCE(color_hex, '')) = lower(?) ORDER BY id LIMIT 1",
                             a, 4, id);
    if (rc != PD_ERR_NOTFOUND)
        return rc;
    json_t *f = json_pack("{s:I,s:s,s:s,s:f,s:f,s:f}", "vendor_id", (json_int_t)vendor, "name", name,
                          "material", rep->material, "density",
                          pd_files_density(rep->material), "diameter",
                          rep->diameter > 0 ? rep->diameter : DEFAULT_DIAMETER, "weight",
                          (double)(rep->weight > 0 ? rep->weight : DEFAULT_WEIGHT));
    if (f && *hex)
        json_object_set_new(f, "color_hex", json_string(hex));
    if (f && rep->nozzle_min > 0 && rep->nozzle_max >= rep->nozzle_min) {
        json_object_set_new(f, "nozzle_temp_min", json_integer(rep->nozzle_min));
        json_object_set_new(f, "nozzle_temp_max", json_integer(rep->nozzle_max));
        json_object_set_new(f, "settings_extruder_temp", json_integer((rep->nozzle_min + rep->nozzle_max) / 2));
    }
    return create(inv, PD_INV_FILAMENT, f, id);
}

pd_err inv_rfid_spool(pd_inv *inv, const pd_inv_reported *rep, int64_t *spool_id)
{
    /* the tray says RRGGBBAA; Spoolman's colour is RRGGBB unless it is see-through */
    char hex[9] = "";
    const char *c = rep->color[0] == '#' ? rep->color + 1 : rep->color;
    snprintf(hex, sizeof hex, "%s", c);
    if (strlen(hex) == 8 && !strcmp(hex + 6, "FF"))
        hex[6] = '\0';
    if (hex[strspn(hex, "0123456789abcdefABCDEF")] || (strlen(hex) != 6 && strlen(hex) != 8))
        hex[0] = '\0';  /* what the inventory would refuse is left out, not a failed report */
    const char *name = rep->sub_brand && *rep->sub_brand ? rep->sub_brand : rep->material;
    int64_t vendor = 0, filament = 0;
    pd_err rc = vendor_id(inv, &vendor);
    if (!rc)
        rc = filament_id(inv, rep, vendor, name, hex, &filament);
    if (rc)
        return rc;
    double weight = rep->weight > 0 ? rep->weight : DEFAULT_WEIGHT;
    json_t *sp = json_pack("{s:I,s:f,s:s}", "filament_id", (json_int_t)filament, "initial_weight", weight,
                           "tray_uuid", rep->tray_uuid);
    if (sp && rep->remain >= 0 && rep->remain <= 100)
        json_object_set_new(sp, "remaining_weight", json_real(weight * rep->remain / 100.0));
    if (sp && rep->tag_uid && *rep->tag_uid)
        json_object_set_new(sp, "tag_uid", json_string(rep->tag_uid));
    if (sp && rep->id_name && *rep->id_name)
        json_object_set_new(sp, "tray_id_name", json_string(rep->id_name));
    return create(inv, PD_INV_SPOOL, sp, spool_id);
}

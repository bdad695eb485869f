// The printer form's fields, values and body (Settings → Printers): its own link or Home
// Assistant (docs/homeassistant.md, Source), the write-only webhook secret, and the timelapse
// settings where empty means the global [timelapse] one. Pure, so Vitest checks it.
import { FieldDef, str, toBody, Values } from './components/form';
import type { Printer } from './types';

export type Source = 'mqtt' | 'homeassistant';

export interface Timelapse { enabled: boolean | null; mode: string | null; interval_s: number | null; fps: number | null }

/** The printer object with the record's members the form edits (docs/api.md, the printer object). */
export type PrinterRecord = Printer & {
  port?: number;
  ca_file?: string | null;
  tls_verify?: boolean;
  timelapse?: Timelapse;
  webhook_secret_set?: boolean;
  ha_printer_id?: string | null;
};

export const GLOBAL = 'Use the global setting';

/** ha-bambulab's English entity ids, which printdeck follows unless one is set over them
 * (docs/homeassistant.md, Source); DEVICE is the device's entity prefix. */
export const HA_ENTITIES: { name: string; label: string; def: string }[] = [
  { name: 'ha_print_status', label: 'Print status', def: 'sensor.DEVICE_print_status' },
  { name: 'ha_task_name', label: 'Task name', def: 'sensor.DEVICE_task_name' },
  { name: 'ha_gcode_file', label: 'G-code file', def: 'sensor.DEVICE_gcode_filename' },
  { name: 'ha_print_progress', label: 'Print progress', def: 'sensor.DEVICE_print_progress' },
  { name: 'ha_current_layer', label: 'Current layer', def: 'sensor.DEVICE_current_layer' },
  { name: 'ha_total_layers', label: 'Total layers', def: 'sensor.DEVICE_total_layer_count' },
  { name: 'ha_active_tray', label: 'Active tray', def: 'sensor.DEVICE_active_tray_index' },
  { name: 'ha_ams_tray', label: 'AMS trays ({unit}, {tray})', def: 'sensor.DEVICE_ams_{unit}_tray_{tray}' },
];

/** A printer fed by Home Assistant's webhooks rather than followed through its API: it takes
 * only a name, a model and a webhook secret (docs/api.md, PATCH). */
export const isWebhookPrinter = (p?: PrinterRecord | null) => p?.source === 'homeassistant' && !p.ha_device;

/** The fields of the form's main grid, for a source; an edit never asks for the access code again. */
export function mainDefs(source: Source, edit: boolean, webhooks = false): FieldDef[] {
  const name: FieldDef = { name: 'name', label: 'Name', required: true };
  const model: FieldDef = { name: 'model', label: 'Model', placeholder: 'e.g. P1S, X1C, A1 mini, H2D', hint: 'empty: told by the serial and the printer' };
  if (webhooks) return [name, model];
  const serial: FieldDef = { name: 'serial', label: 'Serial', required: true, hint: 'on the printer: Settings → Device' };
  // its serial stands for the printer in Home Assistant: fixed once added (docs/api.md, PATCH)
  if (source === 'homeassistant')
    return [
      name,
      ...(edit ? [] : [{ ...serial, hint: 'on Home Assistant’s device page, or the printer’s screen' }]),
      model,
      { name: 'ha_device', label: 'Home Assistant device', required: true, placeholder: 'bambu_lab_p1s', hint: 'the entity prefix: sensor.bambu_lab_p1s_print_status → bambu_lab_p1s' },
    ];
  return [
    name,
    serial,
    { name: 'host', label: 'Address', required: true, hint: 'IP address or host name' },
    { name: 'access_code', label: 'LAN access code', type: 'password', required: !edit, hint: edit ? 'leave empty to keep it' : 'Settings → LAN Only Mode' },
    model,
    { name: 'port', label: 'MQTT port', type: 'number', min: 1, max: 65535 },
    { name: 'ca_file', label: 'CA file', hint: 'only for a printer with its own certificate' },
    { name: 'tls_verify', label: 'Verify TLS', type: 'select', options: [{ value: 'true', label: 'Yes (recommended)' }, { value: 'false', label: 'No' }] },
  ];
}

/** The entity overrides, each with ha-bambulab's default for the device typed as placeholder. */
export function entityDefs(device: string): FieldDef[] {
  const dev = /^[a-z0-9_]+$/.test(device) ? device : 'DEVICE';
  return HA_ENTITIES.map((e) => ({ name: e.name, label: e.label, placeholder: e.def.replace('DEVICE', dev) }));
}

/** The timelapse group; `custom` names the numbers given here (unticked "Use the global setting"),
 * which then need a value. */
export function timelapseDefs(custom: Record<string, boolean> = {}): FieldDef[] {
  return [
    { name: 'timelapse_enabled', label: 'Record a timelapse', type: 'select', options: [{ value: '', label: GLOBAL }, { value: 'true', label: 'Yes' }, { value: 'false', label: 'No' }] },
    { name: 'timelapse_mode', label: 'Frames taken', type: 'select', options: [{ value: '', label: GLOBAL }, { value: 'layer', label: 'One per layer' }, { value: 'interval', label: 'One per interval' }] },
    { name: 'timelapse_interval_s', label: 'Interval (seconds)', type: 'number', min: 1, max: 3600, step: '1', required: !!custom.timelapse_interval_s, hint: '1 to 3600' },
    { name: 'timelapse_fps', label: 'Video frames a second', type: 'number', min: 1, max: 120, step: '1', required: !!custom.timelapse_fps, hint: '1 to 120' },
  ];
}

/** Every field the form may send, for a source (edits of a webhooks printer: name and model). */
export function printerDefs(source: Source, edit: boolean, p?: PrinterRecord | null, custom: Record<string, boolean> = {}, device = ''): FieldDef[] {
  if (isWebhookPrinter(p)) return mainDefs(source, edit, true);
  if (source === 'homeassistant') return [...mainDefs(source, edit), ...entityDefs(device)];
  return [...mainDefs(source, edit), ...timelapseDefs(custom)];
}

/** The form's text for a printer (an access code and a secret are never there). */
export function printerValues(p?: PrinterRecord | null): Values {
  const v: Values = {
    name: str(p?.name), serial: str(p?.serial), model: str(p?.model), host: str(p?.host), access_code: '',
    port: str(p?.port ?? 8883), ca_file: str(p?.ca_file), tls_verify: p?.tls_verify === false ? 'false' : 'true',
    ha_device: str(p?.ha_device),
    timelapse_enabled: str(p?.timelapse?.enabled), timelapse_mode: str(p?.timelapse?.mode),
    timelapse_interval_s: str(p?.timelapse?.interval_s), timelapse_fps: str(p?.timelapse?.fps),
  };
  for (const e of HA_ENTITIES) v[e.name] = str((p as Record<string, unknown> | null | undefined)?.[e.name]);
  return v;
}

/** What to do with the webhook secret: keep it, set a new one, or clear it (the global
 * [homeassistant] webhook_secret applies again). */
export type SecretChange = { kind: 'keep' } | { kind: 'set'; value: string } | { kind: 'clear' };

/** The body of POST (a new printer: its source and every field given) or PATCH (the fields
 * changed, an emptied one as null: the global setting again). */
export function printerBody(source: Source, v: Values, p?: PrinterRecord | null, secret: SecretChange = { kind: 'keep' }, custom: Record<string, boolean> = {}): Record<string, unknown> {
  const edit = !!p;
  const defs = printerDefs(source, edit, p, custom, v.ha_device ?? '');
  const b = toBody(defs, v, edit, printerValues(p));
  if (typeof b.tls_verify === 'string') b.tls_verify = b.tls_verify === 'true';
  if (typeof b.timelapse_enabled === 'string') b.timelapse_enabled = b.timelapse_enabled === 'true';
  if (edit && b.access_code === null) delete b.access_code; // empty keeps the stored code
  if (!edit && source === 'homeassistant') b.source = source;
  if (secret.kind === 'set' && secret.value.trim()) b.webhook_secret = secret.value.trim();
  else if (secret.kind === 'clear') b.webhook_secret = null;
  return b;
}

/** A new webhook secret's own check before sending (docs/api.md: 16-128 printable characters
 * without spaces); null when it may go. */
export function secretProblem(x: string): string | null {
  const s = x.trim();
  if (s.length < 16 || s.length > 128) return 'must be 16 to 128 characters';
  if (/[^\x21-\x7e]/.test(s)) return 'printable characters without spaces only';
  return null;
}

import { describe, expect, it } from 'vitest';
import { parseError } from './api';
import { placeErrors, validate } from './components/form';
import { connectionProblem, sourceWords } from './format';
import { entityDefs, HA_ENTITIES, printerBody, printerDefs, printerValues, PrinterRecord, secretProblem, timelapseDefs } from './printerform';

const mqtt: PrinterRecord = {
  id: 3, name: 'Shelf P1S', serial: '01P00A451200002', host: '192.168.1.40', model: 'P1S', online: true, source: 'mqtt', port: 8883,
  ca_file: null, tls_verify: true, webhook_secret_set: false, timelapse: { enabled: null, mode: null, interval_s: null, fps: null },
};
const ha: PrinterRecord = {
  id: 4, name: 'HA P1S', serial: '01P00A451200321', model: 'P1S', online: false, source: 'homeassistant', ha_device: 'bambu_lab_p1s',
  webhook_secret_set: true, timelapse: { enabled: null, mode: null, interval_s: null, fps: null },
  connection: { state: 'backoff', error: 'unreachable: cannot open a connection to 127.0.0.1:9' },
};
const names = (defs: { name: string }[]) => defs.map((d) => d.name);

describe('the printer form', () => {
  it('asks an MQTT printer for its link and timelapse, a Home Assistant one for its device and entities', () => {
    expect(names(printerDefs('mqtt', false))).toEqual([
      'name', 'serial', 'host', 'access_code', 'model', 'port', 'ca_file', 'tls_verify',
      'timelapse_enabled', 'timelapse_mode', 'timelapse_interval_s', 'timelapse_fps',
    ]);
    expect(names(printerDefs('homeassistant', false))).toEqual(['name', 'serial', 'model', 'ha_device', ...HA_ENTITIES.map((e) => e.name)]);
    // the serial stands for the printer in Home Assistant: not editable once added
    expect(names(printerDefs('homeassistant', true, ha))).not.toContain('serial');
    // a printer the webhooks made takes a name and a model only
    expect(names(printerDefs('homeassistant', true, { ...ha, ha_device: null }))).toEqual(['name', 'model']);
    expect(printerDefs('mqtt', true, mqtt).find((d) => d.name === 'access_code')!.required).toBe(false);
  });

  it('shows ha-bambulab’s defaults for the device typed as placeholders', () => {
    const d = entityDefs('bambu_lab_x1c');
    expect(d.find((x) => x.name === 'ha_print_status')!.placeholder).toBe('sensor.bambu_lab_x1c_print_status');
    expect(d.find((x) => x.name === 'ha_total_layers')!.placeholder).toBe('sensor.bambu_lab_x1c_total_layer_count');
    expect(d.find((x) => x.name === 'ha_ams_tray')!.placeholder).toBe('sensor.bambu_lab_x1c_ams_{unit}_tray_{tray}');
    // nothing typed yet, or not a device name: DEVICE stands for it
    expect(entityDefs('')[0].placeholder).toBe('sensor.DEVICE_print_status');
    expect(entityDefs('Bambu P1S')[0].placeholder).toBe('sensor.DEVICE_print_status');
  });

  it('adds a Home Assistant printer with its source, device and only the entities set', () => {
    const v = { ...printerValues(), name: 'HA X1C', serial: '00M09A350100741', ha_device: 'bambu_lab_x1c', ha_task_name: 'sensor.x1c_job' };
    expect(validate(printerDefs('homeassistant', false), v)).toEqual({});
    expect(printerBody('homeassistant', v)).toEqual({ name: 'HA X1C', serial: '00M09A350100741', ha_device: 'bambu_lab_x1c', ha_task_name: 'sensor.x1c_job', source: 'homeassistant' });
    expect(validate(printerDefs('homeassistant', false), { ...v, ha_device: '' })).toEqual({ ha_device: 'required' });
  });

  it('adds an MQTT printer with its link; the timelapse left to the global settings sends nothing', () => {
    const v = { ...printerValues(), name: 'Desk', serial: '01P00A451200002', host: '10.0.0.4', access_code: '12345678' };
    expect(printerBody('mqtt', v)).toEqual({ name: 'Desk', serial: '01P00A451200002', host: '10.0.0.4', access_code: '12345678', port: 8883, tls_verify: true });
  });

  it('edits the timelapse: own values as numbers and a boolean, back to the global one as null', () => {
    const v = { ...printerValues(mqtt), timelapse_enabled: 'false', timelapse_mode: 'interval', timelapse_interval_s: '20', timelapse_fps: '24' };
    const own = { timelapse_interval_s: true, timelapse_fps: true };
    expect(printerBody('mqtt', v, mqtt, { kind: 'keep' }, own)).toEqual({ timelapse_enabled: false, timelapse_mode: 'interval', timelapse_interval_s: 20, timelapse_fps: 24 });
    const set: PrinterRecord = { ...mqtt, timelapse: { enabled: true, mode: 'layer', interval_s: 20, fps: 24 } };
    const back = { ...printerValues(set), timelapse_enabled: '', timelapse_mode: '', timelapse_interval_s: '' };
    expect(printerBody('mqtt', back, set)).toEqual({ timelapse_enabled: null, timelapse_mode: null, timelapse_interval_s: null });
    // a number of its own needs a value; the global setting does not
    expect(validate(timelapseDefs({ timelapse_fps: true }), { timelapse_fps: '' })).toEqual({ timelapse_fps: 'required' });
    expect(validate(timelapseDefs(), { timelapse_fps: '' })).toEqual({});
    expect(validate(timelapseDefs({ timelapse_fps: true }), { timelapse_fps: '500' })).toEqual({ timelapse_fps: 'must be 120 or less' });
  });

  it('sends the webhook secret only when replaced or cleared, never the access code kept', () => {
    const v = printerValues(ha);
    expect(printerBody('homeassistant', v, ha)).toEqual({});
    expect(printerBody('homeassistant', v, ha, { kind: 'set', value: '  a-new-secret-of-20-chars ' })).toEqual({ webhook_secret: 'a-new-secret-of-20-chars' });
    // Replace pressed, nothing typed: the one set stays
    expect(printerBody('homeassistant', v, ha, { kind: 'set', value: '' })).toEqual({});
    expect(printerBody('homeassistant', v, ha, { kind: 'clear' })).toEqual({ webhook_secret: null });
    expect(printerBody('mqtt', { ...printerValues(mqtt), name: 'Desk' }, mqtt)).toEqual({ name: 'Desk' });
    expect(secretProblem('short')).toMatch(/16 to 128/);
    expect(secretProblem('with a space in it, long enough')).toMatch(/without spaces/);
    expect(secretProblem('a-new-secret-of-20-chars')).toBeNull();
  });

  it('places the record’s refusals by the field they name, with or without the field member', () => {
    const fields = ['name', 'serial', 'ha_device', 'source'];
    const rule = parseError(400, { error: { code: 'invalid', message: 'ha_device: must be the ha-bambulab device’s entity prefix' } });
    expect(placeErrors(rule, fields)).toEqual({ fields: { ha_device: 'must be the ha-bambulab device’s entity prefix' }, general: null });
    const refused = parseError(422, { error: { code: 'invalid_field', field: 'source', message: "source: Home Assistant's API is not configured here" } });
    expect(placeErrors(refused, fields).fields.source).toMatch(/not configured/);
    const other = parseError(409, { error: { code: 'exists', message: 'a printer with serial X already exists' } });
    expect(placeErrors(other, fields)).toEqual({ fields: {}, general: 'a printer with serial X already exists' });
  });
});

describe('a Home Assistant printer in words', () => {
  it('says where its state comes from, and its connection', () => {
    expect(sourceWords(mqtt)).toBeNull();
    expect(sourceWords(ha)).toBe('State from Home Assistant (ha-bambulab device bambu_lab_p1s): not connected.');
    expect(sourceWords({ ...ha, connection: { state: 'connected' } })).toMatch(/: connected\.$/);
    expect(sourceWords({ ...ha, ha_device: null })).toMatch(/webhooks: none received/);
    expect(sourceWords({ ...ha, ha_device: null, online: true })).toBe('State from Home Assistant’s webhooks.');
  });

  it('gives its connection’s problem as Home Assistant’s, not a printer’s', () => {
    expect(connectionProblem(ha)).toBe('Home Assistant is unreachable: cannot open a connection to 127.0.0.1:9; trying again.');
    expect(connectionProblem({ ...ha, connection: { state: 'auth_failed', error: 'the token was refused (auth_invalid: bad)' } })).toMatch(/^Home Assistant refused printdeck: the token was refused .*\[homeassistant\] token/);
    expect(connectionProblem({ ...ha, connection: { state: 'connected' } })).toBeNull();
    expect(connectionProblem({ ...ha, connection: { state: 'disconnected' } })).toMatch(/api_url/);
    // the webhooks' printers have no connection to speak of
    expect(connectionProblem({ ...ha, ha_device: null, connection: { state: 'disconnected' } })).toBeNull();
  });
});

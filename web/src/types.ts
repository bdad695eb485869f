// The shapes of docs/api.md that the dashboard reads.

export interface Tray {
  id: number;
  present?: boolean;
  type?: string | null;
  sub_brand?: string | null;
  color?: string | null; // #RRGGBBAA
  remain?: number | null;
  tray_uuid?: string | null;
  uuid?: string | null;
  tag_uid?: string | null;
  nozzle_min?: number | null;
  nozzle_max?: number | null;
  k?: number | null;
  tray_weight?: number | null;
}

export interface AmsUnit {
  id: number;
  humidity?: number | null; // 1 wet … 5 dry
  humidity_pct?: number | null;
  temp?: number | null;
  trays: Tray[];
}

export interface Hms {
  code: string;
  attr?: number;
  severity?: string;
  text?: string | null;
  url?: string | null;
}

export interface Printer {
  id: number;
  name: string;
  serial: string;
  host?: string;
  model?: string | null;
  model_name?: string | null;
  firmware?: string | null;
  online: boolean;
  /** `homeassistant`: fed by Home Assistant (its webhooks, or its API with ha_device), no link, no commands */
  source?: 'mqtt' | 'homeassistant';
  /** the ha-bambulab device followed through Home Assistant's API; null for the webhooks' printers */
  ha_device?: string | null;
  connection?: { state: string; error?: string | null; since?: string | null };
  state?: string | null;
  stage?: number;
  progress?: number;
  layer?: number;
  total_layers?: number;
  remaining_min?: number;
  subtask?: string | null;
  gcode_file?: string | null;
  nozzle_temp?: number | null;
  nozzle_target?: number | null;
  bed_temp?: number | null;
  bed_target?: number | null;
  chamber_temp?: number | null;
  fans?: Record<string, number | null>;
  speed_level?: number | null;
  light?: string | null;
  door_open?: boolean | null;
  nozzle?: { diameter?: number | null; type?: string | null };
  ams?: AmsUnit[];
  tray_now?: number;
  /** the tray feeding now, decoded per model (tray_now alone names another tray on some) */
  feeding?: { unit: number | null; slot: number | null; extruder: number };
  external?: Tray | null;
  hms?: Hms[];
  print_error?: { code: number; value?: number; text?: string | null } | null;
  sign_required?: boolean;
  updated_at?: string | null;
  /** the model's camera (docs/camera.md): type null when none is known */
  camera?: { type: string | null; host?: string; port?: number; url: string; enabled: boolean };
}

export interface Vendor {
  id: number;
  name: string;
  registered?: string;
  comment?: string | null;
  empty_spool_weight?: number | null;
  external_id?: string | null;
  extra?: Record<string, string>;
}

export interface Filament {
  id: number;
  name?: string | null;
  vendor?: Vendor | null;
  material?: string | null;
  price?: number | null;
  density: number;
  diameter: number;
  weight?: number | null;
  spool_weight?: number | null;
  article_number?: string | null;
  comment?: string | null;
  settings_extruder_temp?: number | null;
  settings_bed_temp?: number | null;
  color_hex?: string | null;
  multi_color_hexes?: string | null;
  multi_color_direction?: string | null;
  nozzle_temp_min?: number | null;
  nozzle_temp_max?: number | null;
  bed_temp_min?: number | null;
  bed_temp_max?: number | null;
  drying_temp?: number | null;
  drying_hours?: number | null;
  drying_notes?: string | null;
  low_stock_weight?: number | null;
  extra?: Record<string, string>;
}

export interface Spool {
  id: number;
  registered?: string;
  first_used?: string | null;
  last_used?: string | null;
  filament: Filament;
  price?: number | null;
  initial_weight?: number | null;
  spool_weight?: number | null;
  remaining_weight?: number | null;
  used_weight: number;
  remaining_length?: number | null;
  location?: string | null;
  lot_nr?: string | null;
  comment?: string | null;
  archived: boolean;
  purchase_date?: string | null;
  low_stock_weight?: number | null;
  extra?: Record<string, string>;
}

export interface Slot {
  printer_id: number;
  printer: string;
  unit: number;
  slot: number;
  external: boolean;
  spool_id?: number;
  spool?: Spool;
  live?: { present: boolean; material?: string | null; color?: string | null; remain?: number | null } | null;
  mismatch?: { material?: boolean; color?: boolean };
}

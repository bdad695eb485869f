// Spool labels and the scanner end to end: headless Chromium against the real daemon, broker
// and simulator. A label sheet chosen in the inventory is printed (print media, and a PDF whose
// pages are the label stock's); then a REAL scan: the label as the browser drew it becomes the
// picture of Chromium's fake camera (a y4m file written here), the app reads it, opens the
// spool's sheet, and "Load into slot…" assigns the spool to a simulator slot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { waitFor, ROOT, join, tmpDir } from '../integration/harness.mjs';
import { startFleet, stopFleet, openPage, axe, shot, launchBrowser, SHOTS, PHONE, DESKTOP } from './fixture.mjs';

const X1C = '00M09A350100731', P1S = '01P00A451200732';
const { default: decodeQR } = await import(pathToFileURL(join(ROOT, 'web/node_modules/qr/decode.js')));
const { default: encodeQR } = await import(pathToFileURL(join(ROOT, 'web/node_modules/qr/index.js')));

let f, daemon, p1, red, spools;
const browsers = [];
const dir = tmpDir('pd-e2e-labels-');

before(async () => {
  f = await startFleet({ serials: [X1C, P1S] });
  ({ daemon, p1 } = f);
  const ok = async (path, body) => {
    const r = await daemon.req('POST', path, body);
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  const v = await ok('/api/v1/vendor', { name: 'Bambu Lab' });
  const v2 = await ok('/api/v1/vendor', { name: 'Polymaker' });
  const pla = await ok('/api/v1/filament', { name: 'PLA Basic Red', vendor_id: v.id, material: 'PLA', density: 1.24, diameter: 1.75, weight: 1000, spool_weight: 250, color_hex: 'C12E1F' });
  const petg = await ok('/api/v1/filament', { name: 'PolyLite PETG Galaxy Black with a long name', vendor_id: v2.id, material: 'PETG', density: 1.27, diameter: 1.75, weight: 1000, spool_weight: 180, multi_color_hexes: '111111,5B2C83', multi_color_direction: 'coaxial' });
  red = await ok('/api/v1/spool', { filament_id: pla.id, remaining_weight: 640, location: 'Shelf A' });
  spools = [red];
  for (let i = 0; i < 23; i++) spools.push(await ok('/api/v1/spool', { filament_id: i % 2 ? pla.id : petg.id, remaining_weight: 100 + i * 30, location: `Drawer ${1 + (i % 3)}` }));
});

after(async () => {
  for (const b of browsers) await b.close();
  await stopFleet(f);
});

/** RGBA pixels as one I420 frame (BT.601 full range, as y4m's C420jpeg says). */
function i420(rgba, w, h) {
  const out = Buffer.alloc(w * h * 1.5);
  const cw = w / 2, u0 = w * h, v0 = u0 + cw * (h / 2);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      out[y * w + x] = Math.round(0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2]);
    }
  for (let y = 0; y < h / 2; y++)
    for (let x = 0; x < cw; x++) {
      let r = 0, g = 0, b = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const i = ((2 * y + dy) * w + 2 * x + dx) * 4;
        r += rgba[i] / 4; g += rgba[i + 1] / 4; b += rgba[i + 2] / 4;
      }
      out[u0 + y * cw + x] = Math.max(0, Math.min(255, Math.round(128 - 0.168736 * r - 0.331264 * g + 0.5 * b)));
      out[v0 + y * cw + x] = Math.max(0, Math.min(255, Math.round(128 + 0.5 * r - 0.418688 * g - 0.081312 * b)));
    }
  return out;
}

/** A y4m video of one frame shown for a second, which Chromium's fake camera plays in a loop.
 * The frame must read back as `expect` here first: a failing scan is then the app's fault. */
function y4m(name, rgba, w, h, expect) {
  const frame = i420(rgba, w, h);
  assert.equal(decodeQR({ width: w, height: h, data: frame }, { format: 'I420' }), expect, 'the camera picture holds the code');
  const path = join(dir, `${name}.y4m`);
  const parts = [Buffer.from(`YUV4MPEG2 W${w} H${h} F10:1 Ip A1:1 C420jpeg\n`)];
  for (let i = 0; i < 10; i++) parts.push(Buffer.from('FRAME\n'), frame);
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

/** A browser whose camera films `file`; getUserMedia is allowed without asking. */
async function cameraBrowser(file) {
  const b = await launchBrowser(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${file}`]);
  browsers.push(b);
  return { ...f, browser: b };
}

const W = 640, H = 480;

test('the QR encoder and decoder stay out of the first load, which stays under 150 KB', async () => {
  const html = await (await fetch(daemon.url('/'))).text();
  const first = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
  let bytes = 0;
  for (const a of first) {
    const r = await fetch(daemon.url(a), { headers: { 'Accept-Encoding': 'br' } });
    bytes += Number(r.headers.get('content-length'));
    assert.doesNotMatch(await r.text(), /invalid border=/, `${a} holds no QR code`);
  }
  console.log(`first load: ${first.join(', ')}: ${(bytes / 1024).toFixed(1)} KB brotli`);
  assert.ok(bytes > 10000 && bytes < 150 * 1024, `first load ${bytes} bytes`);
});

test('labels: chosen in the inventory, laid out on the stock, printed as its pages', async () => {
  const p = await openPage(f, DESKTOP, '/inventory');
  await p.locator('li.spool').first().waitFor();
  await p.getByRole('button', { name: 'Labels…' }).click();
  await p.getByLabel(`Label for spool ${red.id}`).check();
  await p.getByLabel(`Label for spool ${spools[3].id}`).check();
  await p.getByRole('button', { name: 'Print 2 labels' }).click();
  await waitFor(async () => (await p.locator('.label[data-spool]').count()) === 2, 10000, 'two labels');
  const label = p.locator(`.label[data-spool="${red.id}"]`);
  const text = await label.innerText();
  for (const want of [`#${red.id}`, 'PLA', 'Bambu Lab', 'PLA Basic Red', '1 kg net', 'spool 250 g']) assert.ok(text.includes(want), `${want} on the label: ${text}`);
  const origin = new URL(daemon.url('/')).origin;
  assert.equal(await label.locator('svg').getAttribute('aria-label'), `QR code: ${origin}/spools/${red.id}`);
  // the address is 127.0.0.1 here: the page says a phone cannot open it
  assert.match(await p.locator('#base-hint').innerText(), /Only this computer/);
  await shot(p, 'labels-two-desktop');

  // all the spools a search shows (the drawers' 23), on an A4 sheet of 3 × 7: two pages
  await p.goBack();
  await p.getByRole('searchbox').fill('drawer');
  await p.getByRole('button', { name: 'Labels…' }).click();
  await shot(p, 'inventory-labels-desktop');
  await p.getByRole('button', { name: 'All 23 shown' }).click();
  await waitFor(async () => (await p.locator('.label[data-spool]').count()) === 23, 10000, 'every label');
  assert.match(await p.locator('.page-head').innerText(), /23 labels · 2 pages/);
  await p.getByLabel("printdeck's address in the codes").fill('printdeck.lan:8080');
  const drawer = p.locator(`.label[data-spool="${spools[1].id}"]`);
  assert.equal(await drawer.locator('svg').getAttribute('aria-label'), `QR code: http://printdeck.lan:8080/spools/${spools[1].id}`);
  await shot(p, 'labels-sheet-desktop', true);
  await axe(p, 'label sheet');
  await p.emulateMedia({ media: 'print' });
  assert.equal(await p.locator('.topbar').isVisible(), false, 'no app chrome on paper');
  assert.equal(await p.locator('.label-options').isVisible(), false, 'no controls on paper');
  await shot(p, 'labels-print', true);
  const pages = (pdf) => [...pdf.toString('latin1').matchAll(/\/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]/g)].map((m) => [Math.round(m[1]), Math.round(m[2])]);
  let pdf = await p.pdf({ preferCSSPageSize: true });
  writeFileSync(join(SHOTS, 'labels-a4.pdf'), pdf);
  assert.deepEqual(pages(pdf), [[595, 842], [595, 842]], 'two A4 pages');
  await p.emulateMedia({ media: null }); // the page's own: the screen, and print for the PDF
  // a roll prints one label per page of the label's size; "start at" means nothing there
  await p.getByLabel('Label stock').selectOption('r62x29');
  assert.equal(await p.getByLabel('Start at label').count(), 0);
  pdf = await p.pdf({ preferCSSPageSize: true });
  writeFileSync(join(SHOTS, 'labels-roll.pdf'), pdf);
  const roll = pages(pdf);
  assert.equal(roll.length, 23, 'a page per label');
  assert.deepEqual(roll[0], [176, 82], '62 × 29 mm');
  await shot(p, 'labels-roll-desktop');
  // a used sheet: start at the fifth label
  await p.getByLabel('Label stock').selectOption('l7159');
  await p.getByLabel('Start at label').fill('5');
  assert.equal(await p.locator('.sheet').first().locator('.label.blank').count(), 4, 'four used labels left blank');
  assert.deepEqual(p.errors, []);
  await p.context().close();

  const phone = await openPage(f, PHONE, `/labels?ids=${red.id}-${spools[5].id}`);
  await phone.locator('.label[data-spool]').first().waitFor();
  assert.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= innerWidth), 'the sheet fits 390 px');
  await shot(phone, 'labels-phone');
  await phone.context().close();
});

test('scan: the camera reads a printed label, the sheet loads the spool into a slot and weighs it', async () => {
  // the label exactly as the sheet draws it, photographed: on a grey desk, a little askew
  const p = await openPage(f, DESKTOP, `/labels?ids=${red.id}`);
  const label = p.locator(`.label[data-spool="${red.id}"]`);
  await label.waitFor();
  const png = (await label.screenshot({ scale: 'device' })).toString('base64');
  const rgba = Buffer.from(await p.evaluate(async ({ png, W, H }) => {
    const img = new Image();
    img.src = `data:image/png;base64,${png}`;
    await img.decode();
    const c = new OffscreenCanvas(W, H);
    const g = c.getContext('2d');
    g.fillStyle = '#6b6f75';
    g.fillRect(0, 0, W, H);
    g.translate(W / 2, H / 2);
    g.rotate(0.06);
    const k = (W * 0.8) / img.width;
    g.drawImage(img, (-img.width * k) / 2, (-img.height * k) / 2, img.width * k, img.height * k);
    const d = g.getImageData(0, 0, W, H).data;
    let s = '';
    for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode(...d.subarray(i, i + 0x8000));
    return btoa(s);
  }, { png, W, H }), 'base64');
  await p.context().close();
  const origin = new URL(daemon.url('/')).origin;
  const cam = await cameraBrowser(y4m('label', rgba, W, H, `${origin}/spools/${red.id}`));

  const phone = await openPage(cam, PHONE, '/');
  await phone.getByRole('button', { name: 'Scan a spool label' }).click();
  const d = phone.getByRole('dialog');
  await d.getByRole('heading', { name: `Spool #${red.id}` }).waitFor({ timeout: 15000 });
  assert.match(await d.innerText(), /PLA Basic Red/);
  assert.match(await d.innerText(), /640 g left/);
  await shot(phone, 'scan-sheet-phone');
  await axe(phone, 'scan sheet (phone)');

  await d.getByRole('button', { name: 'Load into slot…' }).click();
  await d.getByRole('button', { name: 'Shelf P1S' }).click();
  await d.getByRole('button', { name: 'AMS 1' }).click();
  await d.locator('.slot-choice', { hasText: 'Slot 2' }).click();
  await shot(phone, 'scan-load-phone');
  await d.getByRole('button', { name: 'Load into slot 2' }).click();
  await d.getByText(`Spool #${red.id} is now in Shelf P1S · AMS 1, slot 2.`).waitFor();
  const slot = (await daemon.get(`/api/v1/printers/${p1.id}/ams`)).json.find((s) => s.unit === 0 && s.slot === 1);
  assert.equal(slot.spool_id, red.id, 'the simulator printer slot holds the spool');
  await waitFor(async () => /Shelf P1S · AMS 1, slot 2/.test(await d.innerText()), 10000, 'the sheet says where it is');

  // weighing: the scale reads the spool with its filament; the empty spool (250 g) comes off
  await d.getByRole('button', { name: 'Weigh' }).click();
  await d.getByLabel('Scale reading (g)').fill('1130');
  await d.getByRole('button', { name: 'Save weight' }).click();
  await d.getByText(/Weight saved/).waitFor();
  assert.equal((await daemon.get(`/api/v1/spool/${red.id}`)).json.remaining_weight, 880);
  await waitFor(async () => /880 g left/.test(await d.innerText()), 10000, 'the sheet shows what is left');

  await d.getByRole('link', { name: 'Open' }).click();
  await phone.getByRole('heading', { name: 'Bambu Lab · PLA Basic Red', level: 1 }).waitFor();
  assert.equal(new URL(phone.url()).pathname, `/spools/${red.id}`);
  assert.equal(await phone.getByRole('dialog').count(), 0);
  assert.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= innerWidth), 'the spool page fits 390 px');
  await shot(phone, 'spool-phone', true);
  assert.deepEqual(phone.errors, []);
  await phone.context().close();

  const desk = await openPage(cam, DESKTOP, '/inventory');
  await desk.getByRole('button', { name: 'Scan', exact: true }).click();
  await desk.getByRole('dialog').getByRole('heading', { name: `Spool #${red.id}` }).waitFor({ timeout: 15000 });
  await shot(desk, 'scan-sheet-desktop');
  await axe(desk, 'scan sheet (desktop)');
  await desk.goto(daemon.url(`/spools/${red.id}`));
  await desk.getByRole('heading', { name: 'Bambu Lab · PLA Basic Red', level: 1 }).waitFor();
  await desk.getByText('Shelf P1S · AMS 1, slot 2').waitFor();
  await shot(desk, 'spool-desktop', true);
  await axe(desk, 'spool page');
  await desk.context().close();
});

test("scan: a code that is no spool's label, no camera, a missing spool, typed numbers, a viewer", async () => {
  // another QR code in front of the camera: a Wi-Fi login
  const wifi = 'WIFI:S:workshop;T:WPA;P:filament;;';
  const m = encodeQR(wifi, 'raw', { border: 2 });
  const k = Math.floor(300 / m.length), ox = (W - m.length * k) >> 1, oy = (H - m.length * k) >> 1;
  const rgba = Buffer.alloc(W * H * 4, 200);
  for (let y = 0; y < m.length * k; y++) for (let x = 0; x < m.length * k; x++) {
    const v = m[Math.floor(y / k)][Math.floor(x / k)] ? 10 : 250, i = ((oy + y) * W + ox + x) * 4;
    rgba[i] = rgba[i + 1] = rgba[i + 2] = v;
  }
  const cam = await cameraBrowser(y4m('wifi', rgba, W, H, wifi));
  let p = await openPage(cam, PHONE, '/inventory');
  await p.getByRole('button', { name: 'Scan', exact: true }).click();
  let d = p.getByRole('dialog');
  await d.getByText('This code is not a printdeck or Spoolman spool label.').waitFor({ timeout: 15000 });
  assert.match(await d.innerText(), /WIFI:S:workshop/);
  await shot(p, 'scan-not-a-label-phone');
  await p.context().close();

  // no camera at all (this browser has none): said in words, typing still works
  p = await openPage(f, PHONE, '/inventory');
  await p.getByRole('button', { name: 'Scan', exact: true }).click();
  d = p.getByRole('dialog');
  await d.locator('.scan-problem').waitFor({ timeout: 10000 });
  assert.match(await d.locator('.scan-problem').innerText(), /camera/i);
  await d.getByText('Take a photo of the label', { exact: true }).waitFor();
  await shot(p, 'scan-no-camera-phone');
  await axe(p, 'scanner without a camera');
  const typed = async (t) => {
    await d.getByLabel('Or type the spool number').fill(t);
    await d.getByRole('button', { name: 'Open', exact: true }).click();
  };
  await typed('hello');
  await d.getByText(/Type a spool number/).waitFor();
  await typed('WEB+SPOOLMAN:F-3');
  await d.getByText('This is a Spoolman label of a filament, not of a spool.').waitFor();
  await typed('99999');
  await d.getByText('Spool #99999 is not in the inventory: it may have been deleted.').waitFor();
  await typed(`web+spoolman:s-${spools[2].id}`);
  await d.getByRole('heading', { name: `Spool #${spools[2].id}` }).waitFor();
  // a photo of a label, as the phone's camera app takes it where the page gets no camera
  const sheet = await openPage(f, DESKTOP, `/labels?ids=${spools[4].id}`);
  const photo = await sheet.locator(`.label[data-spool="${spools[4].id}"]`).screenshot();
  await sheet.context().close();
  await d.getByRole('button', { name: 'Scan another' }).click();
  await d.locator('input[type=file]').setInputFiles({ name: 'label.png', mimeType: 'image/png', buffer: photo });
  await d.getByRole('heading', { name: `Spool #${spools[4].id}` }).waitFor({ timeout: 10000 });
  assert.deepEqual(p.errors, []);
  await p.context().close();

  // a spool page that does not exist, and Spoolman's own page path
  p = await openPage(f, DESKTOP, '/spools/99999');
  await p.getByRole('heading', { name: 'Spool #99999 not found' }).waitFor();
  await p.goto(daemon.url(`/spool/show/${red.id}`));
  await p.getByRole('heading', { name: 'Bambu Lab · PLA Basic Red', level: 1 }).waitFor();
  await p.context().close();

  // a viewer opens spools but neither loads nor weighs them
  const t = (await daemon.req('POST', '/api/v1/tokens', { name: 'shop phone', role: 'viewer' })).json.token;
  p = await openPage(f, PHONE, `/inventory?token=${t}`, { token: false });
  await p.getByRole('heading', { name: 'Inventory' }).waitFor();
  await p.getByRole('button', { name: 'Scan', exact: true }).click();
  d = p.getByRole('dialog');
  await typed(String(red.id));
  await d.getByRole('heading', { name: `Spool #${red.id}` }).waitFor();
  assert.equal(await d.getByRole('button', { name: 'Load into slot…' }).count(), 0);
  assert.equal(await d.getByRole('button', { name: 'Weigh' }).count(), 0);
  assert.match(await d.innerText(), /needs an operator/);
  await d.getByRole('link', { name: 'Open' }).waitFor();
  await shot(p, 'scan-sheet-viewer-phone');
  await p.context().close();
});

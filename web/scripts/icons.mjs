// Draws the app icons (a filament spool on a dark tile) as PNGs into public/: run it after
// changing the design; the PNGs are committed. `node scripts/icons.mjs`
import { deflateSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const c = Buffer.alloc(4);
  c.writeUInt32BE(crc(td));
  return Buffer.concat([len, td, c]);
}
function png(size, pixel) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = pixel(x + 0.5, y + 0.5, size);
      raw.set([r, g, b, a], y * (size * 4 + 1) + 1 + x * 4);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}
const BG = [15, 18, 22], GREEN = [47, 191, 113], LIGHT = [232, 234, 237];
// smooth edge: coverage of a pixel by a shape whose signed distance is d (px)
const cov = (d) => Math.max(0, Math.min(1, 0.5 - d));
const mix = (a, b, t) => a.map((v, i) => Math.round(v * (1 - t) + b[i] * t));
function draw(maskable) {
  return (x, y, s) => {
    const u = x / s - 0.5, v = y / s - 0.5; // -0.5..0.5
    const k = maskable ? 0.72 : 1; // maskable: the drawing stays in the safe circle
    let c = BG, a = 1;
    if (!maskable) {
      // rounded tile, radius 0.2
      const q = Math.max(Math.abs(u) - 0.3, 0) ** 2 + Math.max(Math.abs(v) - 0.3, 0) ** 2;
      a = cov((Math.sqrt(q) - 0.2) * s);
    }
    const r = Math.hypot(u, v) / k;
    c = mix(c, GREEN, cov((Math.abs(r - 0.29) - 0.09) * s * k)); // the filament
    c = mix(c, LIGHT, cov((Math.abs(r - 0.12) - 0.035) * s * k)); // the hub
    c = mix(c, LIGHT, cov((Math.abs(r - 0.395) - 0.018) * s * k)); // the flange
    return [...c, Math.round(a * 255)];
  };
}
const out = new URL('../public/', import.meta.url);
writeFileSync(new URL('icon-192.png', out), png(192, draw(false)));
writeFileSync(new URL('icon-512.png', out), png(512, draw(false)));
writeFileSync(new URL('icon-maskable-512.png', out), png(512, draw(true)));

import { describe, expect, it } from 'vitest';
import decodeQR from 'qr/decode.js';
import { cameraProblem, cellAt, FORMATS, formatById, isLoopback, labelBase, labelWeight, packIds, paginate, perPage, readLabel, spoolUrl, unpackIds } from './labels';
import { qrMatrix, qrPath, QUIET } from './qrcode';
import { parseRoute } from './router';

/** A QR matrix drawn as an RGBA image, `k` pixels a module, with a white quiet zone. */
function raster(m: boolean[][], k = 4, quiet = 2) {
  const n = (m.length + 2 * quiet) * k;
  const data = new Uint8ClampedArray(n * n * 4).fill(255);
  m.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (!dark) return;
      for (let dy = 0; dy < k; dy++)
        for (let dx = 0; dx < k; dx++) {
          const i = (((y + quiet) * k + dy) * n + (x + quiet) * k + dx) * 4;
          data[i] = data[i + 1] = data[i + 2] = 0;
        }
    }),
  );
  return { width: n, height: n, data };
}

describe('label addresses', () => {
  it('takes the address people type as an origin', () => {
    expect(labelBase('printdeck.lan:8080')).toBe('http://printdeck.lan:8080');
    expect(labelBase(' https://pd.example.org/inventory?x=1 ')).toBe('https://pd.example.org');
    expect(labelBase('HTTP://192.168.1.20:8080/')).toBe('http://192.168.1.20:8080');
    expect(labelBase('')).toBeNull();
    expect(labelBase('ftp://files.lan')).toBeNull();
    expect(labelBase('http://')).toBeNull();
    expect(labelBase('not an address at all')).toBeNull();
    expect(spoolUrl('http://printdeck.lan:8080', 12)).toBe('http://printdeck.lan:8080/spools/12');
  });
  it('knows which addresses a phone cannot reach', () => {
    expect(isLoopback('http://127.0.0.1:8080')).toBe(true);
    expect(isLoopback('http://localhost:8080')).toBe(true);
    expect(isLoopback('http://[::1]:8080')).toBe(true);
    expect(isLoopback('http://192.168.1.20:8080')).toBe(false);
    expect(isLoopback('https://printdeck.example')).toBe(false);
  });
});

describe('reading a scanned label', () => {
  it('reads printdeck labels from any host, as long as the path is a spool page', () => {
    expect(readLabel('http://printdeck.lan:8080/spools/12')).toEqual({ kind: 'spool', id: 12 });
    expect(readLabel('https://other.example/spools/7/?from=label#x')).toEqual({ kind: 'spool', id: 7 });
    expect(readLabel('  http://10.0.0.5/spools/3\n')).toEqual({ kind: 'spool', id: 3 });
    expect(readLabel('http://printdeck.lan/spools/12abc')).toEqual({ kind: 'unknown' });
    expect(readLabel('http://printdeck.lan/printers/12')).toEqual({ kind: 'unknown' });
    expect(readLabel('http://printdeck.lan/spools/0')).toEqual({ kind: 'unknown' });
    expect(readLabel('http://printdeck.lan/spools/99999999999')).toEqual({ kind: 'unknown' });
  });
  it("reads Spoolman's labels: its scheme in either case, and its HTTP form", () => {
    expect(readLabel('web+spoolman:s-12')).toEqual({ kind: 'spool', id: 12 });
    expect(readLabel('WEB+SPOOLMAN:S-42')).toEqual({ kind: 'spool', id: 42 });
    expect(readLabel('http://spoolman.lan:7912/spool/show/9')).toEqual({ kind: 'spool', id: 9 });
    expect(readLabel('https://home.example/spoolman/spool/show/5')).toEqual({ kind: 'spool', id: 5 });
    expect(readLabel('WEB+SPOOLMAN:F-3')).toEqual({ kind: 'spoolman-other', what: 'a filament' });
    expect(readLabel('web+spoolman:s-')).toEqual({ kind: 'unknown' });
    expect(readLabel('xweb+spoolman:s-12')).toEqual({ kind: 'unknown' });
  });
  it('takes a bare number only when typed', () => {
    expect(readLabel('12')).toEqual({ kind: 'unknown' });
    expect(readLabel('12', true)).toEqual({ kind: 'spool', id: 12 });
    expect(readLabel('#12', true)).toEqual({ kind: 'spool', id: 12 });
    expect(readLabel('s-12', true)).toEqual({ kind: 'spool', id: 12 });
    expect(readLabel('0', true)).toEqual({ kind: 'unknown' });
    expect(readLabel('twelve', true)).toEqual({ kind: 'unknown' });
    expect(readLabel('', true)).toEqual({ kind: 'unknown' });
  });
  it('never takes other codes for a spool', () => {
    for (const t of ['hello world', 'javascript:alert(1)', 'WIFI:S:home;T:WPA;P:secret;;', 'https://', 'http://[bad/spools/1', '4006381333931'])
      expect(readLabel(t)).toEqual({ kind: 'unknown' });
  });
  it('routes the spool pages, Spoolman\'s path too, and the label sheet', () => {
    expect(parseRoute('/spools/12')).toEqual({ name: 'spool', id: 12 });
    expect(parseRoute('/spool/show/12')).toEqual({ name: 'spool', id: 12 });
    expect(parseRoute('/labels')).toEqual({ name: 'labels' });
    expect(parseRoute('/spools/x')).toEqual({ name: 'notfound' });
  });
});

describe('the spools of a sheet', () => {
  it('packs ids into ranges and back', () => {
    expect(packIds([7, 3, 4, 5, 12, 4, 6, 20, 21])).toBe('3-7,12,20-21');
    expect(packIds([])).toBe('');
    expect(unpackIds('3-7,12,20-21')).toEqual([3, 4, 5, 6, 7, 12, 20, 21]);
    expect(unpackIds('12')).toEqual([12]);
    const many = Array.from({ length: 300 }, (_, i) => 1 + i * 2);
    expect(unpackIds(packIds(many))).toEqual(many);
  });
  it('refuses what is no id list, or too long a one, without expanding it', () => {
    for (const t of ['', 'x', '1,,2', '5-3', '0', '1-', '-4', '1;2', '1.5'])
      expect(unpackIds(t)).toBeNull();
    expect(unpackIds('1-999999999')).toBeNull();
    expect(unpackIds('1-500')).toHaveLength(500);
    expect(unpackIds('1-500,501')).toBeNull();
    expect(unpackIds('1-10', 5)).toBeNull();
  });
});

describe('label stock', () => {
  it('puts every label of every sheet on its page', () => {
    for (const f of FORMATS) {
      const last = cellAt(f, perPage(f) - 1);
      expect(f.left).toBeGreaterThanOrEqual(0);
      expect(last.x + f.w).toBeLessThanOrEqual(f.pageW + 0.01);
      expect(last.y + f.h).toBeLessThanOrEqual(f.pageH + 0.01);
      expect(f.pitchX).toBeGreaterThanOrEqual(f.w);
      expect(f.pitchY).toBeGreaterThanOrEqual(f.h);
    }
  });
  it('prints weights short', () => {
    expect(labelWeight(250)).toBe('250 g');
    expect(labelWeight(999.6)).toBe('1000 g');
    expect(labelWeight(1000)).toBe('1 kg');
    expect(labelWeight(2250)).toBe('2.25 kg');
  });
  it('lays an Avery L7160 out as its template does', () => {
    const f = formatById('l7160');
    expect(perPage(f)).toBe(21);
    expect(cellAt(f, 0)).toEqual({ x: 7.25, y: 15.15 });
    const c = cellAt(f, 4); // second row, second column
    expect(c.x).toBeCloseTo(73.29);
    expect(c.y).toBeCloseTo(53.25);
    expect(formatById('nonsense')).toBe(FORMATS[0]);
  });
  it('pages labels, leaving used positions of the first sheet blank', () => {
    const f = formatById('l7160');
    const pages = paginate(25, f);
    expect(pages).toHaveLength(2);
    expect(pages[0].slice(0, 3)).toEqual([0, 1, 2]);
    expect(pages[1].filter((c) => c !== null)).toEqual([21, 22, 23, 24]);
    const skipped = paginate(3, f, 5);
    expect(skipped).toHaveLength(1);
    expect(skipped[0].slice(0, 8)).toEqual([null, null, null, null, null, 0, 1, 2]);
    expect(paginate(1, f, 99)[0].indexOf(0)).toBe(20); // clamped to the last position
    expect(paginate(0, f)).toEqual([]);
    const roll = formatById('r62x29');
    expect(paginate(3, roll, 2)).toEqual([[0], [1], [2]]);
  });
});

describe('the QR code', () => {
  it('draws runs of dark modules as rectangles', () => {
    expect(qrPath([[true, true, false, true], [false, false, false, false]])).toBe('M0 0h2v1h-2zM3 0h1v1h-1z');
  });
  it("encodes a spool's address so a decoder reads it back", () => {
    const url = spoolUrl('http://printdeck.example.lan:8080', 123456);
    const m = qrMatrix(url);
    expect(m.length - 2 * QUIET).toBeLessThanOrEqual(41); // version 6 or less
    expect(decodeQR(raster(m))).toBe(url);
    expect(readLabel(decodeQR(raster(m)))).toEqual({ kind: 'spool', id: 123456 });
  });
});

describe('camera problems in words', () => {
  it('says why and what to do instead', () => {
    expect(cameraProblem({ name: 'NotAllowedError' }, true)).toMatch(/permission was denied.*type its number/);
    expect(cameraProblem({ name: 'NotFoundError' }, true)).toMatch(/No camera/);
    expect(cameraProblem({ name: 'NotReadableError' }, true)).toMatch(/in use/);
    expect(cameraProblem(null, false)).toMatch(/https/);
    expect(cameraProblem({ name: 'NotAllowedError' }, false)).toMatch(/https/);
    expect(cameraProblem(null, true)).toMatch(/cannot open a camera/);
    expect(cameraProblem(new Error('x'), true)).toMatch(/could not be opened/);
  });
});

// A label's QR code: the `qr` package's encoder (a chunk with the label sheet, never in the
// first load), byte mode as a URL needs, error correction M (15 %: a scuffed label still reads).
import encodeQR from 'qr';

/** Modules of white around the code, inside the matrix: with the label's own margin, the
 * quiet zone scanners look for. */
export const QUIET = 2;

/** The code's modules, rows of booleans (true = dark), the quiet zone included. */
export const qrMatrix = (text: string): boolean[][] => encodeQR(text, 'raw', { ecc: 'medium', encoding: 'byte', border: QUIET });

/** The dark modules of a QR matrix as one SVG path: each row's runs as rectangles. */
export function qrPath(m: boolean[][]): string {
  let d = '';
  m.forEach((row, y) => {
    for (let x = 0; x < row.length; ) {
      if (!row[x]) {
        x++;
        continue;
      }
      let n = 1;
      while (row[x + n]) n++;
      d += `M${x} ${y}h${n}v1h-${n}z`;
      x += n;
    }
  });
  return d;
}


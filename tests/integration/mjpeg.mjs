// An MJPEG client for the camera tests: multipart/x-mixed-replace parts parsed as they come.
import { request } from 'node:http';

export const isJpeg = (b) => b.length > 4 && b[0] === 0xff && b[1] === 0xd8 && b.at(-2) === 0xff && b.at(-1) === 0xd9;

/** A JPEG's width and height, from its SOF marker. */
export function jpegSize(b) {
  for (let i = 2; i + 9 < b.length;) {
    if (b[i] !== 0xff) return null;
    const m = b[i + 1], len = b.readUInt16BE(i + 2);
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc)
      return { h: b.readUInt16BE(i + 5), w: b.readUInt16BE(i + 7) };
    i += 2 + len;
  }
  return null;
}

/** A viewer of url: v.frames (the JPEGs), v.bad (parts that were not), v.close(). */
export function mjpegViewer(url, headers) {
  const v = { frames: [], status: 0, headers: {}, bad: 0 };
  let buf = Buffer.alloc(0);
  v.done = new Promise((resolve) => {
    v.req = request(url, { headers }, (res) => {
      v.status = res.statusCode;
      v.headers = res.headers;
      res.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) break;
          const head = buf.subarray(0, end).toString();
          const len = Number(/Content-Length: (\d+)/i.exec(head)?.[1]);
          if (!head.startsWith('--pdframe') || !len) { v.bad++; buf = Buffer.alloc(0); break; }
          if (buf.length < end + 4 + len + 2) break;
          const jpeg = Buffer.from(buf.subarray(end + 4, end + 4 + len));
          if (!isJpeg(jpeg)) v.bad++;
          v.frames.push(jpeg);
          buf = buf.subarray(end + 4 + len + 2);
        }
      });
      res.on('end', resolve);
      res.on('close', resolve);
      res.on('error', resolve);
    });
    v.req.on('error', resolve);
    v.req.end();
  });
  v.close = () => { v.req.destroy(); return v.done; };
  return v;
}

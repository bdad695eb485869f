// A Web Push service on 127.0.0.1, built from the RFCs, for the integration and browser tests:
// it checks the VAPID Authorization of every message (RFC 8292: an ES256 JWT that verifies with
// the key in k=, aud this service's origin, exp within 24 h) and decrypts the aes128gcm body
// (RFC 8291, RFC 8188) with the private key and auth secret of the subscription the test made,
// as the browser would. Messages go to /push/<device name>.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, verify } from 'node:crypto';

export const b64u = (b) => Buffer.from(b).toString('base64url');

/** RFC 8291 §3.4 and RFC 8188 §2, the receiving side: the plaintext, or throws. */
export function decrypt(dev, body) {
  const salt = body.subarray(0, 16), rs = body.readUInt32BE(16), idlen = body[20];
  const asPub = body.subarray(21, 21 + idlen), rec = body.subarray(21 + idlen);
  assert.equal(idlen, 65);
  assert.ok(rec.length <= rs, 'one record');
  const uaPub = dev.ecdh.getPublicKey();
  const secret = dev.ecdh.computeSecret(asPub);
  const info = Buffer.concat([Buffer.from('WebPush: info\0'), uaPub, asPub]);
  const ikm = Buffer.from(hkdfSync('sha256', secret, dev.auth, info, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const d = createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(rec.subarray(rec.length - 16));
  const plain = Buffer.concat([d.update(rec.subarray(0, rec.length - 16)), d.final()]);
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end--;
  assert.equal(plain[end], 2, 'the last record ends with the 0x02 delimiter');
  return plain.subarray(0, end).toString();
}

/** RFC 8292 §2-3: the Authorization header checked against origin; {k, claims}. */
export function checkVapid(header, origin) {
  const m = /^vapid t=([\w-]+)\.([\w-]+)\.([\w-]+), k=([\w-]+)$/.exec(header || '');
  assert.ok(m, `Authorization: ${header}`);
  const [, h, c, s, k] = m;
  assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url')), { typ: 'JWT', alg: 'ES256' });
  const claims = JSON.parse(Buffer.from(c, 'base64url'));
  const pub = Buffer.from(k, 'base64url');
  assert.equal(pub.length, 65);
  const key = createPublicKey({ format: 'jwk', key: { kty: 'EC', crv: 'P-256', x: b64u(pub.subarray(1, 33)),
    y: b64u(pub.subarray(33)) } });
  assert.ok(verify('sha256', Buffer.from(`${h}.${c}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url')),
    'the JWT signature verifies with k');
  assert.equal(claims.aud, origin, 'aud is the push service origin');
  const now = Date.now() / 1000;
  assert.ok(claims.exp > now && claims.exp <= now + 24 * 3600, `exp ${claims.exp}`);
  return { k, claims };
}

/** The service, listening: {base, got (every request: name, headers, body, vapid, payload or
 * error), status(name) (the answer, 201 unless replaced), device(name), devices, close()}. */
export async function startPushService() {
  const s = { got: [], devices: {}, status: () => 201 };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const name = req.url.split('/').pop();
      const r = { name, method: req.method, headers: req.headers, body: Buffer.concat(chunks) };
      try {
        r.vapid = checkVapid(req.headers.authorization, s.base);
        r.payload = JSON.parse(decrypt(s.devices[name], r.body));
      } catch (e) {
        r.error = e;
      }
      s.got.push(r);
      res.writeHead(r.error ? 400 : s.status(name)).end();
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  s.base = `http://127.0.0.1:${server.address().port}`;
  /** A browser's subscription: its own ECDH key and auth secret, an endpoint here. */
  s.device = (name) => {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    return (s.devices[name] = { name, ecdh, auth,
      json: { endpoint: `${s.base}/push/${name}`, expirationTime: null,
        keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(auth) } } });
  };
  s.close = () => server.close();
  return s;
}

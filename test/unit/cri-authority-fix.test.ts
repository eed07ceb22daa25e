// The CRI socket's connection handling (cri/authority-fix.ts): a client naming a proper :authority
// gets its socket handed to HTTP/2 as it is (read natively), one naming the socket's path gets the
// filter that rewrites it; both are answered, several requests on one connection included; a client
// that makes no request soon is served through the filter too (its PINGs answered).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { acceptGrpcConnection } from '../../cri/authority-fix.js';
import { tmpDir } from '../lib/harness.js';

const sockPath = path.join(tmpDir('berth-authority-'), 's.sock');
const kinds: string[] = [];
const h2 = http2.createServer();
h2.on('stream', (stream, headers) => {
  stream.respond({ ':status': 200 });
  stream.end(String(headers[':authority']));
});
const listener = net.createServer((sock) => acceptGrpcConnection(sock, (conn) => {
  kinds.push(conn instanceof net.Socket ? 'socket' : 'filter');
  h2.emit('connection', conn);
}));

/** `n` requests in a row on one connection, each naming `authority`: the bodies the server saw. */
async function requests(authority: string, n: number): Promise<string[]> {
  const client = http2.connect('http://localhost', { createConnection: () => net.connect(sockPath) });
  try {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      out.push(await new Promise<string>((resolve, reject) => {
        const req = client.request({ ':path': `/x${i}`, ':authority': authority });
        let body = '';
        req.on('data', (d) => { body += d; });
        req.on('end', () => resolve(body));
        req.on('error', reject);
        req.end();
      }));
    }
    return out;
  } finally {
    client.close();
  }
}

test.before(() => new Promise<void>((r) => listener.listen(sockPath, r)));
test.after(() => { listener.close(); h2.close(); });

test('a proper authority: the socket itself is handed over, requests answered', async () => {
  kinds.length = 0;
  assert.equal(await requests('localhost', 3), ['localhost', 'localhost', 'localhost']);
  assert.equal(kinds, ['socket']);
});

test('the socket path as authority (Go clients of cri-api <1.26): filtered, rewritten to localhost', async () => {
  kinds.length = 0;
  assert.equal(await requests('/run/berth/cri.sock', 3), ['localhost', 'localhost', 'localhost']);
  assert.equal(kinds, ['filter']);
});

test('a client that PINGs before any request (an idle channel): served through the filter, its PING answered', async () => {
  kinds.length = 0;
  const frame = (type: number, flags: number, payload: Buffer) => {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = flags;
    return Buffer.concat([h, payload]);
  };
  const sock = net.connect(sockPath);
  try {
    const pinged = new Promise<string>((resolve, reject) => {
      let got = Buffer.alloc(0);
      let acked = false;
      sock.on('error', reject);
      sock.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        while (got.length >= 9 && got.length >= 9 + got.readUIntBE(0, 3)) {
          const len = got.readUIntBE(0, 3), type = got[3], flags = got[4];
          const payload = got.subarray(9, 9 + len);
          got = got.subarray(9 + len);
          if (type === 4 && !(flags & 1)) {
            sock.write(frame(4, 1, Buffer.alloc(0))); // ACK every SETTINGS the server sends
            if (!acked) { acked = true; sock.write(frame(6, 0, Buffer.from('berthping'.padEnd(8).slice(0, 8)))); }
          }
          if (type === 6 && flags & 1) resolve(payload.toString());
        }
      });
    });
    sock.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, Buffer.alloc(0))]));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((_, reject) => { timer = setTimeout(() => reject(new Error('no PING ACK within 3 s')), 3000); });
    try {
      assert.is(await Promise.race([pinged, timeout]), 'berthpin');
    } finally {
      clearTimeout(timer);
    }
    assert.equal(kinds, ['filter']);
  } finally {
    sock.destroy();
  }
});

test.run();

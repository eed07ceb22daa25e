// Connecting to a monitor's sockets. sun_path holds 108 bytes and container dirs can be longer,
// so connect through /proc/self/fd/<dirfd>/<name>, which is always short.
import fs from 'node:fs';
import net from 'node:net';
import { fromErrno } from '../lib/errors.js';

export function connectInDir(dir: string, name: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let dfd: number;
    try {
      dfd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    } catch (e) {
      return reject(fromErrno(e, `monitor dir ${dir}`));
    }
    // allowHalfOpen: ending stdin (StdinOnce) must not stop the output we still read.
    const sock = net.connect({ path: `/proc/self/fd/${dfd}/${name}`, allowHalfOpen: true });
    const cleanup = () => { try { fs.closeSync(dfd); } catch { /* closed */ } };
    sock.once('connect', () => { cleanup(); sock.removeAllListeners('error'); resolve(sock); });
    sock.once('error', (e) => {
      cleanup();
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ECONNREFUSED' || code === 'ENOENT' ? 'the monitor is not running (container exited?)' : e.message;
      reject(fromErrno(Object.assign(new Error(why), { code: code === 'ENOENT' ? 'ECONNREFUSED' : code }), `${dir}/${name}`));
    });
  });
}

// IPv4 address allocation for the native bridge driver, on host-local's own on-disk layout
// (containernetworking/plugins disk store): <dir>/<network>/<ip> holds "<id>\r\n<ifname>",
// last_reserved_ip.0 remembers where the next search starts, and <dir>/<network>/lock is the
// flock host-local takes. Sharing the layout and the lock means the CNI path (BERTH_NET_DRIVER=cni)
// and the native path never hand out the same address, whichever set up a container.
import fs from 'node:fs';
import path from 'node:path';
import { failedPrecondition, invalidArgument } from '../../lib/errors.js';
import { lockFilePolled } from '../../lib/file-lock.js';

export interface Ipv4Subnet { network: number; prefix: number }

export function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const b = m.slice(1).map(Number);
  if (b.some((x) => x > 255)) return undefined;
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** An IPv4 CIDR, undefined for anything else (IPv6 stays on the CNI path). */
export function parseIpv4Subnet(cidr: string): Ipv4Subnet | undefined {
  const [addr, len, extra] = cidr.split('/');
  const ip = parseIpv4(addr);
  const prefix = Number(len);
  if (ip === undefined || extra !== undefined || !/^\d+$/.test(len ?? '') || prefix < 1 || prefix > 30) return undefined;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { network: (ip & mask) >>> 0, prefix };
}

const LINE_BREAK = '\r\n';
const LAST_RESERVED = 'last_reserved_ip.0';

export interface Allocation { address: string; prefixLength: number; gateway: string }

export class HostLocalIpam {
  readonly dir: string;
  readonly gateway: number;
  private readonly first: number;
  private readonly last: number;

  constructor(dataDir: string, network: string, readonly subnet: Ipv4Subnet, gateway?: string) {
    this.dir = path.join(dataDir, network);
    const size = 2 ** (32 - subnet.prefix);
    // host-local's default range: the network address and the broadcast address are never handed out
    this.first = subnet.network + 1;
    this.last = subnet.network + size - 2;
    const gw = gateway === undefined ? this.first : parseIpv4(gateway);
    if (gw === undefined) throw invalidArgument(`gateway ${gateway} is not an IPv4 address`);
    this.gateway = gw;
  }

  get gatewayAddress(): string { return formatIpv4(this.gateway); }

  /** Reserve the next free address for (id, ifName), searching on from the last one reserved. */
  async allocate(id: string, ifName: string): Promise<Allocation> {
    return this.locked(() => {
      const lastText = readText(path.join(this.dir, LAST_RESERVED))?.trim();
      const lastN = lastText === undefined ? undefined : parseIpv4(lastText);
      const span = this.last - this.first + 1;
      const start = lastN !== undefined && lastN >= this.first && lastN <= this.last ? lastN + 1 : this.first;
      for (let i = 0; i < span; i++) {
        const n = this.first + ((start - this.first + i) % span);
        if (n === this.gateway) continue;
        const ip = formatIpv4(n);
        let fd: number;
        try {
          fd = fs.openSync(path.join(this.dir, ip), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
          throw e;
        }
        try {
          fs.writeSync(fd, `${id.trim()}${LINE_BREAK}${ifName}`);
        } finally {
          fs.closeSync(fd);
        }
        fs.writeFileSync(path.join(this.dir, LAST_RESERVED), ip, { mode: 0o644 });
        return { address: ip, prefixLength: this.subnet.prefix, gateway: this.gatewayAddress };
      }
      throw failedPrecondition(`no IP addresses available in network ${path.basename(this.dir)} (${formatIpv4(this.subnet.network)}/${this.subnet.prefix})`);
    });
  }

  /** Free what (id, ifName) holds; host-local's older files hold the id alone. Nothing held: a no-op. */
  async release(id: string, ifName: string): Promise<void> {
    if (!fs.existsSync(this.dir)) return;
    await this.locked(() => {
      const want = `${id.trim()}${LINE_BREAK}${ifName}`;
      for (const name of fs.readdirSync(this.dir)) {
        if (parseIpv4(name) === undefined) continue;
        const text = readText(path.join(this.dir, name))?.trim();
        if (text === want || text === id.trim()) fs.rmSync(path.join(this.dir, name), { force: true });
      }
    });
  }

  // host-local holds this flock for the whole of an allocation; a non-blocking take retried keeps
  // Node's event loop free while another process (or a CNI plugin) holds it.
  private async locked<T>(fn: () => T): Promise<T> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const lock = await lockFilePolled(path.join(this.dir, 'lock'), { delayMs: 2, timeoutMs: 30_000 });
    try {
      return fn();
    } finally {
      lock.release();
    }
  }
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

// /etc/hosts, /etc/hostname and /etc/resolv.conf for a container, written into its own dir and
// bind-mounted over the image's (docker's behaviour): the image's files are never modified.
import fs from 'node:fs';
import path from 'node:path';

export interface EtcOptions {
  hostname: string;
  ip?: string;                         // the container's address on a bridge network
  extraHosts?: string[];               // "name:ip"
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  hostNetwork?: boolean;
}

// systemd-resolved's stub listener is unreachable from another network namespace: use its upstream file.
function hostResolvConf(): string {
  for (const f of ['/etc/resolv.conf', '/run/systemd/resolve/resolv.conf']) {
    try {
      const text = fs.readFileSync(f, 'utf8');
      if (!/^\s*nameserver\s+127\.0\.0\.53\b/m.test(text)) return text;
    } catch { /* try the next */ }
  }
  return '';
}

export function resolvConf(o: EtcOptions): string {
  if (!o.dns?.length && !o.dnsSearch?.length && !o.dnsOptions?.length) {
    const host = hostResolvConf();
    if (o.hostNetwork) return host;
    // loopback nameservers of the host are unreachable from the container's network namespace
    const kept = host.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1)/.test(l)).join('\n').trim();
    return kept ? kept + '\n' : '';
  }
  const lines: string[] = [];
  for (const s of o.dns ?? []) lines.push(`nameserver ${s}`);
  if (o.dnsSearch?.length) lines.push(`search ${o.dnsSearch.join(' ')}`);
  if (o.dnsOptions?.length) lines.push(`options ${o.dnsOptions.join(' ')}`);
  return lines.join('\n') + '\n';
}

export function hostsFile(o: EtcOptions): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const h of o.extraHosts ?? []) {
    const i = h.lastIndexOf(':');
    if (i > 0) lines.push(`${h.slice(i + 1)}\t${h.slice(0, i)}`);
  }
  if (o.ip) lines.push(`${o.ip}\t${o.hostname}`);
  return lines.join('\n') + '\n';
}

export function writeEtcFiles(dir: string, o: EtcOptions): void {
  fs.writeFileSync(path.join(dir, 'hostname'), o.hostname + '\n');
  fs.writeFileSync(path.join(dir, 'hosts'), o.hostNetwork ? fs.readFileSync('/etc/hosts', 'utf8') : hostsFile(o));
  fs.writeFileSync(path.join(dir, 'resolv.conf'), resolvConf(o));
}

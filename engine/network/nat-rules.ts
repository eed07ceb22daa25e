// The iptables nat rules the native driver gives one container, as iptables-restore input: what the
// portmap plugin (published ports, snat on) and the bridge plugin's ipMasq do, but every rule lives
// in chains of the container's own, so a teardown removes exactly its rules and one
// `iptables-restore --noflush` applies or removes them all in one transaction (nothing is shared:
// declaring a chain in iptables-restore flushes it, which would wipe other containers' rules).
//
//   PREROUTING, OUTPUT  -m addrtype --dst-type LOCAL -j BERTH-DN-<h>   DNAT hostPort -> pod:containerPort
//   POSTROUTING (first) -o <bridge> -j BERTH-HM-<h>   masquerade what was DNATed here from localhost
//                       or from the pod subnet (hairpin), as portmap's SETMARK/MASQ chains do
//   POSTROUTING -s <pod>/32 -j BERTH-MQ-<h>           ipMasq: accept the subnet, masquerade the rest
//                                                     but multicast (the bridge plugin's rules)
import crypto from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { PortMapping } from './cni-client.js';

export interface NatSpec {
  network: string;
  id: string;
  bridge: string;
  /** The pod subnet, CIDR. */
  subnet: string;
  podIP: string;
  portMappings: PortMapping[];
  /** Masquerade hostPort traffic from localhost and the subnet (portmap's snat, its default). */
  snat: boolean;
  ipMasq: boolean;
}

/** What a teardown needs: the container's chains and the rules that jump to them (as added). */
export interface NatRules { chains: string[]; jumps: string[] }

/** The container's chain names: recognisably berth's, and unique per (network, id) within 28 characters. */
export function natChainNames(network: string, id: string): { dnat: string; hostMasq: string; ipMasq: string } {
  const h = crypto.createHash('sha256').update(`${network}\0${id}`).digest('hex').slice(0, 16);
  return { dnat: `BERTH-DN-${h}`, hostMasq: `BERTH-HM-${h}`, ipMasq: `BERTH-MQ-${h}` };
}

/** The chains a container gets, known before its address is (none: no nat rules at all). */
export function natChainsFor(s: Pick<NatSpec, 'network' | 'id' | 'portMappings' | 'snat' | 'ipMasq'>): string[] {
  const n = natChainNames(s.network, s.id);
  const ports = ipv4Mappings(s.portMappings).length > 0;
  return [...(ports ? [n.dnat, ...(s.snat ? [n.hostMasq] : [])] : []), ...(s.ipMasq ? [n.ipMasq] : [])];
}

/** Mappings an IPv4 pod can serve: an IPv6 hostIP is left out (portmap skips it for an IPv4 pod too). */
function ipv4Mappings(ports: PortMapping[]): PortMapping[] {
  return ports.filter((m) => m.hostIP === undefined || isIPv4(m.hostIP));
}

const anyHost = (m: PortMapping) => m.hostIP === undefined || m.hostIP === '0.0.0.0';

/**
 * The rules for one container; `script` adds them all in one iptables-restore transaction.
 * routeLocalnet: the bridge must route 127.0.0.0/8 (DNATed localhost traffic leaves through it).
 */
export function natSetup(s: NatSpec): NatRules & { script: string; routeLocalnet: boolean } {
  const n = natChainNames(s.network, s.id);
  const tag = `-m comment --comment berth:${s.id}`;
  const ports = ipv4Mappings(s.portMappings);
  const chains = natChainsFor(s);
  const rules: string[] = [];
  const jumps: string[] = [];
  if (ports.length) {
    jumps.push(`-A PREROUTING -m addrtype --dst-type LOCAL ${tag} -j ${n.dnat}`, `-A OUTPUT -m addrtype --dst-type LOCAL ${tag} -j ${n.dnat}`);
    for (const m of ports) {
      const dst = anyHost(m) ? '' : ` -d ${m.hostIP}/32`;
      rules.push(`-A ${n.dnat}${dst} -p ${m.protocol} -m ${m.protocol} --dport ${m.hostPort} -j DNAT --to-destination ${s.podIP}:${m.containerPort}`);
    }
    if (s.snat) {
      // first in POSTROUTING: an ACCEPT before it (another pod's ipMasq chain) would skip it
      jumps.push(`-I POSTROUTING -o ${s.bridge} ${tag} -j ${n.hostMasq}`);
      for (const m of ports) {
        const orig = `-m conntrack --ctstate DNAT${anyHost(m) ? '' : ` --ctorigdst ${m.hostIP}`} --ctorigdstport ${m.hostPort}`;
        for (const src of [s.subnet, '127.0.0.0/8']) {
          rules.push(`-A ${n.hostMasq} -s ${src} -d ${s.podIP}/32 -p ${m.protocol} -m ${m.protocol} --dport ${m.containerPort} ${orig} -j MASQUERADE`);
        }
      }
    }
  }
  if (s.ipMasq) {
    jumps.push(`-A POSTROUTING -s ${s.podIP}/32 ${tag} -j ${n.ipMasq}`);
    rules.push(`-A ${n.ipMasq} -d ${s.subnet} -j ACCEPT`, `-A ${n.ipMasq} ! -d 224.0.0.0/4 -j MASQUERADE`);
  }
  const script = chains.length ? restoreScript([...chains.map((c) => `:${c} - [0:0]`), ...rules, ...jumps]) : '';
  return { chains, jumps, script, routeLocalnet: ports.length > 0 && s.snat };
}

/** Removes the jumps, then the chains (a declaration flushes a chain; -X needs it empty and unreferenced). */
export function natTeardownScript(r: NatRules): string {
  if (!r.chains.length && !r.jumps.length) return '';
  return restoreScript([
    ...r.jumps.map((j) => j.replace(/^-[AI] /, '-D ')),
    ...r.chains.map((c) => `:${c} - [0:0]`),
    ...r.chains.map((c) => `-X ${c}`),
  ]);
}

/**
 * What of `chains` an `iptables-save -t nat` listing still holds, with every rule elsewhere that jumps
 * to one: a teardown after a crash (the record never learned what was applied), or after someone
 * deleted part of it by hand.
 */
export function natLeftovers(save: string, chains: string[]): NatRules {
  const ours = new Set(chains);
  const lines = save.split('\n');
  const present = lines.filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]).filter((c) => ours.has(c));
  const jumps = lines.filter((l) => {
    const m = /^-A (\S+) .*-j (\S+)$/.exec(l);
    return m !== null && !ours.has(m[1]) && ours.has(m[2]);
  });
  return { chains: present, jumps };
}

function restoreScript(lines: string[]): string {
  return ['*nat', ...lines, 'COMMIT', ''].join('\n');
}

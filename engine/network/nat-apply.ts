// Applies and removes a container's nat rules (nat-rules.ts) with the iptables-restore the system
// has (iptables-nft on Debian 12: one nftables transaction per call, so a call applies all or nothing).
// -w: wait for the xtables lock the legacy backend and other tools take instead of failing.
import fs from 'node:fs';
import { runTool } from './run-tool.js';
import { natLeftovers, natTeardownScript, type NatRules } from './nat-rules.js';

function restore(script: string, what: string, timeoutMs: number): Promise<string> {
  // drop iptables-restore's usage hint: the message says what failed and where
  return runTool('iptables-restore', ['-w', '--noflush'], { what, timeoutMs, input: script }).catch((e: Error) => {
    e.message = e.message.replace(/\nTry `iptables-restore -h'.*$/s, '').replace(/\n/g, '; ');
    throw e;
  });
}

export async function applyNat(script: string, id: string, timeoutMs: number): Promise<void> {
  if (script) await restore(script, `iptables rules for ${id}`, timeoutMs);
}

/**
 * One iptables-restore removes what setup applied. When that fails (the rules were never applied,
 * or only partly remain), the nat table is read and whatever of the container's is left goes;
 * none left is success, so teardown stays idempotent.
 */
export async function removeNat(r: NatRules, id: string, timeoutMs: number): Promise<void> {
  const what = `removing the iptables rules of ${id}`;
  if (r.jumps.length) {
    try {
      await restore(natTeardownScript(r), what, timeoutMs);
      return;
    } catch {
      // fall through: find out what is really there
    }
  }
  const save = await runTool('iptables-save', ['-t', 'nat'], { what: `${what} (listing the nat table)`, timeoutMs });
  const left = natLeftovers(save, r.chains);
  const script = natTeardownScript(left);
  if (script) await restore(script, what, timeoutMs);
}

/**
 * Lets `bridge` route 127.0.0.0/8, as portmap does with snat: a connection to 127.0.0.1:hostPort is
 * DNATed to the pod and leaves through the bridge before it is masqueraded. Left on, as portmap
 * leaves it: other containers on the bridge rely on it.
 */
export function enableRouteLocalnet(bridge: string): void {
  fs.writeFileSync(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, '1');
}

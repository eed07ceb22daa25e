// cgroup v1 devices: the kernel keeps a default (allow/deny all) plus exceptions keyed by
// `type major:minor`. Replaying the spec's rules after a blanket "deny a" would leave a running
// container without /dev/null for a moment on every update, so (like runc) compute the target state
// and write only the difference when the default does not change.
import type { LinuxDeviceCgroup } from '../spec/resources-schema.js';

export interface DeviceState { defaultAllow: boolean; exceptions: Map<string, number> }

const BIT: Record<string, number> = { r: 4, w: 2, m: 1 };

export function accessString(bits: number): string {
  return (bits & 4 ? 'r' : '') + (bits & 2 ? 'w' : '') + (bits & 1 ? 'm' : '');
}

function bitsOf(access: string | undefined): number {
  let b = 0;
  for (const ch of access || 'rwm') b |= BIT[ch] ?? 0;
  return b;
}

const num = (n: number | undefined) => (n === undefined || n < 0 ? '*' : String(n));

/** What the kernel holds after the rules are written in order, starting from deny-all (runc's target). */
export function emulateRules(rules: readonly LinuxDeviceCgroup[]): DeviceState {
  const s: DeviceState = { defaultAllow: false, exceptions: new Map() };
  for (const r of rules) {
    if ((r.type ?? 'a') === 'a') {
      // v1 reads "a" as every device, whatever numbers or access follow.
      s.defaultAllow = r.allow;
      s.exceptions.clear();
      continue;
    }
    const key = `${r.type} ${num(r.major)}:${num(r.minor)}`;
    const bits = bitsOf(r.access);
    const cur = s.exceptions.get(key) ?? 0;
    // An allow under default-deny (or a deny under default-allow) adds an exception; the opposite
    // removes those access bits from an identical exception, as the kernel does.
    const next = r.allow !== s.defaultAllow ? cur | bits : cur & ~bits;
    if (next) s.exceptions.set(key, next); else s.exceptions.delete(key);
  }
  return s;
}

/**
 * devices.list as a state. Under default-allow the kernel prints only `a *:* rwm` and hides its
 * exceptions, so that state is reported as `known: false` unless it is exactly that line.
 */
export function parseDevicesList(text: string): DeviceState & { known: boolean } {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.some((l) => l.startsWith('a '))) return { defaultAllow: true, exceptions: new Map(), known: false };
  const exceptions = new Map<string, number>();
  for (const l of lines) {
    const [type, mm, acc] = l.split(' ');
    if (type && mm && acc) exceptions.set(`${type} ${mm}`, (exceptions.get(`${type} ${mm}`) ?? 0) | bitsOf(acc));
  }
  return { defaultAllow: false, exceptions, known: true };
}

export interface DeviceWrite { file: 'devices.allow' | 'devices.deny'; value: string }

/** The writes that take a cgroup from `current` (undefined: unknown) to the rules' state. */
export function deviceTransition(rules: readonly LinuxDeviceCgroup[], current: (DeviceState & { known: boolean }) | undefined): DeviceWrite[] {
  const target = emulateRules(rules);
  const w: DeviceWrite[] = [];
  const excFile = target.defaultAllow ? 'devices.deny' : 'devices.allow';
  const sameDefault = current && current.known && current.defaultAllow === target.defaultAllow;
  if (!sameDefault) {
    w.push({ file: target.defaultAllow ? 'devices.allow' : 'devices.deny', value: 'a' });
    for (const [k, bits] of target.exceptions) w.push({ file: excFile, value: `${k} ${accessString(bits)}` });
    return w;
  }
  // Same default: grant what is new first, then take away what is gone, so nothing needed blinks.
  const undoFile = target.defaultAllow ? 'devices.allow' : 'devices.deny';
  for (const [k, bits] of target.exceptions) {
    const add = bits & ~(current.exceptions.get(k) ?? 0);
    if (add) w.push({ file: excFile, value: `${k} ${accessString(add)}` });
  }
  for (const [k, bits] of current.exceptions) {
    const drop = bits & ~(target.exceptions.get(k) ?? 0);
    if (drop) w.push({ file: undoFile, value: `${k} ${accessString(drop)}` });
  }
  return w;
}

// Helpers for the cgroup tests: a tiny interpreter for the device filter's eBPF subset (so unit
// tests can ask "is c 1:3 rw allowed?" of the real generated program), and cgroup fixtures.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { OP, type Insn } from '../../runtime/cgroups/device-filter.js';

/** Run a device program for one request; returns the program's R0 (1 allow, 0 deny). */
export function runDeviceProgram(prog: readonly Insn[], req: { type: 'b' | 'c'; access: string; major: number; minor: number }): number {
  let acc = 0;
  for (const ch of req.access) acc |= ch === 'm' ? 1 : ch === 'r' ? 2 : 4;
  const ctx = [((acc << 16) | (req.type === 'b' ? 1 : 2)) >>> 0, req.major, req.minor];
  const r = new Array<number>(11).fill(0);
  for (let pc = 0, steps = 0; pc < prog.length; pc++) {
    if (++steps > 10000) throw new Error('program does not terminate');
    const x = prog[pc]!;
    switch (x.op) {
      case OP.LDXW: r[x.dst] = ctx[x.off / 4]!; break;
      case OP.AND32_K: r[x.dst] = (r[x.dst]! & x.imm) >>> 0; break;
      case OP.RSH32_K: r[x.dst] = r[x.dst]! >>> x.imm; break;
      case OP.MOV32_K: r[x.dst] = x.imm >>> 0; break;
      case OP.MOV32_X: r[x.dst] = r[x.src]! >>> 0; break;
      case OP.JNE_K: if (r[x.dst] !== x.imm) pc += x.off; break;
      case OP.JEQ_K: if (r[x.dst] === x.imm) pc += x.off; break;
      case OP.JNE_X: if (r[x.dst] !== r[x.src]) pc += x.off; break;
      case OP.EXIT: return r[0]!;
      default: throw new Error(`unknown opcode 0x${x.op.toString(16)} at ${pc}`);
    }
  }
  throw new Error('fell off the end of the program');
}

/** A unique test-owned cgroup parent (absolute cgroupsPath), never below the caller's own cgroup. */
export function testCgroupParent(tag: string): string {
  return `/berth-test-${tag}-${process.pid}`;
}

/**
 * A busybox shell that first waits for one line on stdin, so the test can put it into a cgroup
 * before it does anything; `go(c)` releases it.
 */
export function spawnGated(script: string): ChildProcess {
  return spawn('/bin/busybox', ['sh', '-c', `read _go; ${script}`], { stdio: ['pipe', 'pipe', 'pipe'] });
}

export function go(c: ChildProcess): void {
  c.stdin!.write('go\n');
}

/** Dirs named `parent` that exist in any hierarchy under /sys/fs/cgroup (what a test left behind). */
export function leftovers(parent: string): string[] {
  return fs.readdirSync('/sys/fs/cgroup').map((b) => `/sys/fs/cgroup/${b}${parent}`).filter((d) => fs.existsSync(d));
}

/** Last-resort cleanup for a failed test: rmdir (deepest first) whatever is left under `parent`. */
export function removeTestParents(parent: string): void {
  const rm = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) rm(`${d}/${e.name}`);
    try { fs.rmdirSync(d); } catch { /* still populated: reported by the test's own assertions */ }
  };
  for (const d of leftovers(parent)) rm(d);
}

export function waitExit(c: ChildProcess, timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  let out = '', err = '';
  c.stdout?.on('data', (d) => { out += d; });
  c.stderr?.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve({ code: c.exitCode, signal: c.signalCode, out, err });
    const t = setTimeout(() => { c.kill('SIGKILL'); reject(new Error(`child ${c.pid} did not exit within ${timeoutMs} ms`)); }, timeoutMs);
    c.on('close', (code, signal) => { clearTimeout(t); resolve({ code, signal, out, err }); });
  });
}

/** /proc/<pid>/stat state letter (R, S, D, T, Z...) or undefined when the process is gone. */
export function procState(pid: number): string | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

export function cpuTicks(pid: number): number {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

export const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

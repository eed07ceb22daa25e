// Load the device filter program (device-filter.ts) with bpf(2) and attach it to a cgroup v2 dir,
// replacing whatever device programs berth attached before (so `update` can change the rules).
import fs from 'node:fs';
import { bpf, closeFd, nativeAlloc, SyscallError } from '../../native/ffi.js';
import { BerthError } from '../../lib/errors.js';
import type { LinuxDeviceCgroup } from '../spec/resources-schema.js';
import { deviceFilterProgram, encodeProgram } from './device-filter.js';

const BPF_PROG_LOAD = 5;
const BPF_PROG_ATTACH = 8;
const BPF_PROG_DETACH = 9;
const BPF_PROG_GET_FD_BY_ID = 13;
const BPF_PROG_QUERY = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
const BPF_CGROUP_DEVICE = 6;
const BPF_F_ALLOW_MULTI = 2;

function loadProgram(code: Buffer): number {
  const insns = nativeAlloc(code.length);
  const license = nativeAlloc(16);
  const attr = nativeAlloc(72);
  const logSize = 1 << 16;
  let log: ReturnType<typeof nativeAlloc> | undefined;
  try {
    code.copy(insns.buf);
    license.buf.write('Apache\0');
    const fill = (withLog: boolean) => {
      attr.buf.fill(0);
      attr.buf.writeUInt32LE(BPF_PROG_TYPE_CGROUP_DEVICE, 0);
      attr.buf.writeUInt32LE(code.length / 8, 4);
      attr.buf.writeBigUInt64LE(BigInt(insns.addr), 8);
      attr.buf.writeBigUInt64LE(BigInt(license.addr), 16);
      if (withLog && log) {
        attr.buf.writeUInt32LE(1, 24);
        attr.buf.writeUInt32LE(logSize, 28);
        attr.buf.writeBigUInt64LE(BigInt(log.addr), 32);
      }
      attr.buf.write('berth_dev', 48);
      attr.buf.writeUInt32LE(BPF_CGROUP_DEVICE, 68);
    };
    fill(false);
    try {
      return bpf(BPF_PROG_LOAD, attr.addr, 72, 'PROG_LOAD device filter');
    } catch (e) {
      if (!(e instanceof SyscallError) || (e.errno !== 22 && e.errno !== 13)) throw e;
      // Load again with the verifier log so the error says why the program was refused.
      log = nativeAlloc(logSize);
      fill(true);
      try {
        return bpf(BPF_PROG_LOAD, attr.addr, 72, 'PROG_LOAD device filter');
      } catch (e2) {
        const text = log.buf.toString('utf8', 0, log.buf.indexOf(0) >= 0 ? log.buf.indexOf(0) : logSize).trim();
        throw new BerthError('INTERNAL', `cgroup: the kernel refused the device filter program: ${(e2 as Error).message}${text ? `\nverifier: ${text}` : ''}`, { cause: e2 });
      }
    }
  } finally {
    insns.free(); license.free(); attr.free(); log?.free();
  }
}

/** Ids of the device programs attached directly to this cgroup. */
export function queryDevicePrograms(cgroupFd: number): number[] {
  const max = 64;
  const ids = nativeAlloc(max * 4);
  const attr = nativeAlloc(40);
  try {
    attr.buf.writeUInt32LE(cgroupFd, 0);
    attr.buf.writeUInt32LE(BPF_CGROUP_DEVICE, 4);
    attr.buf.writeBigUInt64LE(BigInt(ids.addr), 16);
    attr.buf.writeUInt32LE(max, 24);
    bpf(BPF_PROG_QUERY, attr.addr, 40, 'PROG_QUERY');
    const n = attr.buf.readUInt32LE(24);
    const out: number[] = [];
    for (let i = 0; i < Math.min(n, max); i++) out.push(ids.buf.readUInt32LE(i * 4));
    return out;
  } finally {
    ids.free(); attr.free();
  }
}

function attachOrDetach(cmd: number, cgroupFd: number, progFd: number, flags: number): void {
  const attr = nativeAlloc(20);
  try {
    attr.buf.writeUInt32LE(cgroupFd, 0);
    attr.buf.writeUInt32LE(progFd, 4);
    attr.buf.writeUInt32LE(BPF_CGROUP_DEVICE, 8);
    attr.buf.writeUInt32LE(flags, 12);
    bpf(cmd, attr.addr, 20, cmd === BPF_PROG_ATTACH ? 'PROG_ATTACH' : 'PROG_DETACH');
  } finally {
    attr.free();
  }
}

function progFdById(id: number): number {
  const attr = nativeAlloc(12);
  try {
    attr.buf.writeUInt32LE(id, 0);
    return bpf(BPF_PROG_GET_FD_BY_ID, attr.addr, 12, `GET_FD_BY_ID ${id}`);
  } finally {
    attr.free();
  }
}

/**
 * Install `rules` as the device policy of the cgroup at `dir`: attach the new program first, then
 * detach the old ones, so there is no moment without a filter.
 */
export function setDeviceFilter(dir: string, rules: readonly LinuxDeviceCgroup[]): void {
  const code = encodeProgram(deviceFilterProgram(rules));
  const cgFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  let progFd = -1;
  try {
    const old = queryDevicePrograms(cgFd);
    progFd = loadProgram(code);
    attachOrDetach(BPF_PROG_ATTACH, cgFd, progFd, BPF_F_ALLOW_MULTI);
    for (const id of old) {
      const fd = progFdById(id);
      try { attachOrDetach(BPF_PROG_DETACH, cgFd, fd, 0); } finally { closeFd(fd); }
    }
  } finally {
    if (progFd >= 0) closeFd(progFd);
    fs.closeSync(cgFd);
  }
}

// /proc/<pid>/stat, read the one safe way: fields restart after the last ')' because the command
// name may hold spaces and parentheses. The start time (field 22) tells a process apart from a later
// one that reuses its pid.
import fs from 'node:fs';

export interface ProcStat {
  state: string;
  startTime: string;
  ppid: number;
}

export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  return { state: rest[0] ?? '', ppid: Number(rest[1]), startTime: rest[19] ?? '' };
}

/** The process with this pid and start time still runs (not gone, not a zombie, not a reused pid). */
export function sameProcessAlive(pid: number, startTime: string): boolean {
  const st = procStat(pid);
  return !!st && st.startTime === startTime && st.state !== 'Z' && st.state !== 'X';
}

// This process's mount points, from /proc/self/mountinfo (proc(5): field 5 is the mount point, with
// space, tab, newline and backslash octal-escaped).

/** A mountinfo field with its octal escapes (\040 for a space...) undone. */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Every mount point, in mount order (a path mounted over several times appears as often). */
export function mountPoints(mountinfo: string): string[] {
  const out: string[] = [];
  for (const l of mountinfo.split('\n')) {
    const p = l.split(' ')[4];
    if (p) out.push(unescapeMountField(p));
  }
  return out;
}

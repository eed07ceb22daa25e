// The container name index: <root>/containers/.names/<name> is a symlink naming the container's id, so
// reserving or looking up a name reads one entry instead of every record (containerd and podman keep
// one too). The records stay the truth: an entry whose container has no record (a create or a remove
// that died half-way) counts as free, and the next reservation of that name replaces it.
//
// Writers (reserve, release, build) hold the names lock; lookups take none (readlink is atomic, and an
// entry is replaced by rename, never left half-made).
import fs from 'node:fs';
import path from 'node:path';
import { isValidName } from './names.js';

const ID_RE = /^[a-f0-9]{64}$/;

export class NameIndex {
  constructor(readonly dir: string, private recordFile: (id: string) => string) {}

  /** False for a root made by a berth without the index, until `build`. */
  exists(): boolean {
    return fs.existsSync(this.dir);
  }

  /** The id a name belongs to, if its container exists; undefined for free, stale or malformed names. */
  lookup(name: string): string | undefined {
    if (!isValidName(name)) return undefined;
    let id: string;
    try { id = fs.readlinkSync(path.join(this.dir, name)); } catch { return undefined; }
    return ID_RE.test(id) && fs.existsSync(this.recordFile(id)) ? id : undefined;
  }

  /**
   * Points `name` at `id`; the caller holds the names lock and has seen the name free (lookup). An
   * entry already there is stale: it is replaced by a rename, so a reader sees the old or the new one.
   * Reserve before the container's record is written: should a crash come between them, a stale entry
   * is harmless, while a record without its entry could let a second container take the name.
   */
  reserve(name: string, id: string): void {
    if (!this.link(name, id)) this.replace(name, id);
  }

  /**
   * reserve for a store with one writing process and no lock (the CRI server's records): points `key` at
   * `id` unless a live entry holds it, whose id is returned. Call it after writing the record, so that
   * an entry is never younger than its record and a live holder is never taken for a stale one.
   */
  claim(key: string, id: string): string | undefined {
    if (this.link(key, id)) return undefined;
    const holder = this.lookup(key);
    if (holder && holder !== id) return holder;
    if (!holder) this.replace(key, id);
    return undefined;
  }

  /** Creates the entry exclusively; false if one is there. */
  private link(name: string, id: string): boolean {
    try {
      fs.symlinkSync(id, path.join(this.dir, name));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      return false;
    }
  }

  private replace(name: string, id: string): void {
    const tmp = path.join(this.dir, `.${id}.tmp`);
    fs.rmSync(tmp, { force: true });
    fs.symlinkSync(id, tmp);
    fs.renameSync(tmp, path.join(this.dir, name));
  }

  /** Drops `name` if it still names `id` (the caller holds the names lock; the record is gone already). */
  release(name: string, id: string): void {
    if (!isValidName(name)) return;
    const entry = path.join(this.dir, name);
    let cur: string;
    try { cur = fs.readlinkSync(entry); } catch { return; }
    if (cur === id) fs.rmSync(entry, { force: true });
  }

  /**
   * Makes the index of a root that has none, from its records (the caller holds the names lock). Built
   * aside and renamed into place, so a reader never sees half an index.
   */
  build(records: { id: string; name: string }[]): void {
    const tmp = `${this.dir}.tmp`; // one builder at a time: the names lock
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(this.dir), { recursive: true, mode: 0o711 });
    fs.mkdirSync(tmp, { mode: 0o711 });
    for (const r of records) {
      if (!isValidName(r.name)) continue;
      try { fs.symlinkSync(r.id, path.join(tmp, r.name)); } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // a duplicate from before: the first keeps it
      }
    }
    fs.renameSync(tmp, this.dir);
  }
}

// snapshots/meta.json: every snapshot's key, short id, parent, kind, labels. Read-modify-write happens
// under an flock shared by all berth processes, and each write is write-temp + fsync + rename.
import fs from 'node:fs';
import path from 'node:path';
import { schemaValidator } from '../lib/schema-validator.js';
import type { FromSchema } from 'json-schema-to-ts';
import { writeJsonAtomic, writeJsonAtomicAsync } from '../lib/atomic-write.js';
import { withLockAsync } from '../lib/file-lock.js';
import { dataLoss } from '../lib/errors.js';

export const metaSchema = {
  type: 'object',
  required: ['version', 'driver', 'nextId', 'snapshots'],
  additionalProperties: false,
  properties: {
    version: { const: 1 },
    driver: { enum: ['overlay', 'copy'] },
    nextId: { type: 'integer', minimum: 1 },
    snapshots: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['id', 'key', 'kind', 'labels', 'created'],
        additionalProperties: false,
        properties: {
          id: { type: 'integer', minimum: 1 },
          key: { type: 'string', minLength: 1 },
          parent: { type: 'string' },
          kind: { enum: ['active', 'committed', 'view'] },
          labels: { type: 'object', additionalProperties: { type: 'string' } },
          created: { type: 'string' },
        },
      },
    },
  },
} as const;

export type MetaFile = FromSchema<typeof metaSchema>;
export type SnapshotRecord = MetaFile['snapshots'][string];

// Generated at build time or compiled on first use (lib/schema-validator): not at module load.
const validate = ((v: unknown) => schemaValidator('snapshotter.meta', metaSchema)(v)) as
  ((v: unknown) => v is MetaFile) & { errors?: { instancePath: string; message?: string }[] | null };
Object.defineProperty(validate, 'errors', { get: () => schemaValidator('snapshotter.meta', metaSchema).errors });

export class MetaStore {
  readonly file: string;
  readonly lockFile: string;

  constructor(readonly root: string, private readonly driver: MetaFile['driver']) {
    this.file = path.join(root, 'meta.json');
    this.lockFile = path.join(root, 'meta.lock');
  }

  /** The driver recorded in an existing store, if any. */
  static recordedDriver(root: string): MetaFile['driver'] | undefined {
    try {
      return MetaStore.parse(fs.readFileSync(path.join(root, 'meta.json'), 'utf8'), root).driver;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  private static parse(text: string, root: string): MetaFile {
    let v: unknown;
    try { v = JSON.parse(text); } catch (e) { throw dataLoss(`${root}/meta.json is not JSON`, e); }
    if (!validate(v)) throw dataLoss(`${root}/meta.json is invalid: ${validate.errors?.[0]?.instancePath} ${validate.errors?.[0]?.message}`);
    return v;
  }

  /** A consistent snapshot of the metadata (renames are atomic, so no lock is needed to read). */
  read(): MetaFile {
    try {
      return MetaStore.parse(fs.readFileSync(this.file, 'utf8'), this.root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, driver: this.driver, nextId: 1, snapshots: {} };
      throw e;
    }
  }

  /**
   * Run `fn` on the current metadata under the lock; its changes are written if it returns normally.
   * `durable: false`: renamed into place without fsync (an OS crash may undo the change).
   */
  async update<T>(fn: (m: MetaFile) => T, opts: { durable?: boolean } = {}): Promise<T> {
    return withLockAsync(this.lockFile, async () => {
      const m = this.read();
      const before = JSON.stringify(m);
      const out = fn(m);
      if (JSON.stringify(m) !== before) {
        // Async: while a busy disk takes its time over the fsync, this process goes on applying layers.
        if (opts.durable === false) writeJsonAtomic(this.file, m, 0o600, { durable: false });
        else await writeJsonAtomicAsync(this.file, m, 0o600);
      }
      return out;
    });
  }
}

// Shared pieces of the image commands: the `image` command group, registry options
// (--authfile, --creds, --insecure-registry), and the unpacker wired to the snapshotter.
import path from 'node:path';
import type { Command } from 'commander';
import { invalidArgument } from '../../lib/errors.js';
import { authFilesForRead, type RegistryOptions, type Unpacker } from '../../image/index.js';
import type { GlobalOptions } from '../context.js';

/** `berth image ...`: found or created, so every module can add its subcommands to it. */
export function imageCommand(program: Command): Command {
  return program.commands.find((c) => c.name() === 'image') ?? program.command('image').description('manage images');
}

export function addRegistryOptions(cmd: Command): Command {
  return cmd
    .option('--authfile <file>', 'credentials file (docker config.json format)')
    .option('--creds <user:password>', 'credentials for the registry')
    .option('--insecure-registry <host>', 'speak plain HTTP to this registry (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[]);
}

export function registryOptions(g: GlobalOptions, o: { authfile?: string; creds?: string; insecureRegistry?: string[] }): RegistryOptions {
  let credentials: RegistryOptions['credentials'];
  if (o.creds) {
    const i = o.creds.indexOf(':');
    if (i <= 0) throw invalidArgument('--creds must be user:password');
    credentials = { username: o.creds.slice(0, i), password: o.creds.slice(i + 1) };
  }
  const fromEnv = (process.env.BERTH_INSECURE_REGISTRIES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return { credentials, authFiles: authFilesForRead(g.root, o.authfile), insecure: [...(o.insecureRegistry ?? []), ...fromEnv] };
}

export function snapshotsRoot(g: GlobalOptions): string {
  return path.join(g.root, 'snapshots');
}

/** Unpacks into <root>/snapshots through the snapshotter's public entry point. */
export async function snapshotUnpacker(g: GlobalOptions): Promise<Unpacker> {
  const sn = await import('../../snapshotter/index.js');
  const snapshotter = sn.openSnapshotter(snapshotsRoot(g));
  return async (layers, openBlob) => (await sn.unpackLayers(snapshotter, layers, openBlob)).chainId;
}

export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[i]}`;
}

export function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

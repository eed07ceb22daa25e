// Shared pieces of the image commands: the `image` command group, registry options
// (--authfile, --creds, --insecure-registry, --tls-verify, --cert-dir), and the unpacker wired to the snapshotter.
import path from 'node:path';
import type { Command } from 'commander';
import { invalidArgument } from '../../lib/errors.js';
// modules, not the image/ barrel: the container commands load this too, and need no registry code
import { authFilesForRead } from '../../image/auth-file.js';
import type { RegistryOptions } from '../../image/registry.js';
import type { Unpacker } from '../../image/pull.js';
import type { GlobalOptions } from '../context.js';

/** `berth image ...`: found or created, so every module can add its subcommands to it. */
export function imageCommand(program: Command): Command {
  return program.commands.find((c) => c.name() === 'image') ?? program.command('image').description('manage images');
}

export function addRegistryOptions(cmd: Command): Command {
  return addTlsOptions(cmd
    .option('--authfile <file>', 'credentials file (docker config.json format)')
    .option('--creds <user:password>', 'credentials for the registry')
    .option('--insecure-registry <host>', 'speak plain HTTP to this registry (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[]));
}

/** --tls-verify and --cert-dir alone, for commands (login) that take credentials their own way. */
export function addTlsOptions(cmd: Command): Command {
  return cmd
    .option('--tls-verify [bool]', 'require HTTPS and verify certificates (default true; false: no checks, plain HTTP if the registry has no TLS)', parseBool)
    .option('--cert-dir <dir>', 'CA certificates (*.crt) and client certificate (*.cert, *.key) for the registry (default: /etc/containers/certs.d/HOST:PORT, /etc/docker/certs.d/HOST:PORT)');
}

function parseBool(v: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw invalidArgument(`--tls-verify takes true or false, not ${JSON.stringify(v)}`);
}

export interface TlsFlags { tlsVerify?: boolean; certDir?: string }
export interface RegistryFlags extends TlsFlags { authfile?: string; creds?: string; insecureRegistry?: string[] }

/** Only the TLS settings the user gave: absent ones stay absent so certs.d lookups and loopback defaults apply. */
export function tlsOptions(o: TlsFlags): Pick<RegistryOptions, 'tlsVerify' | 'certDir'> {
  return {
    // `--tls-verify` alone means true; commander hands a bare optional flag over as `true`.
    ...(o.tlsVerify !== undefined ? { tlsVerify: o.tlsVerify } : {}),
    ...(o.certDir !== undefined ? { certDir: o.certDir } : {}),
  };
}

export function registryOptions(g: GlobalOptions, o: RegistryFlags): RegistryOptions {
  let credentials: RegistryOptions['credentials'];
  if (o.creds) {
    const i = o.creds.indexOf(':');
    if (i <= 0) throw invalidArgument('--creds must be user:password');
    credentials = { username: o.creds.slice(0, i), password: o.creds.slice(i + 1) };
  }
  const fromEnv = (process.env.BERTH_INSECURE_REGISTRIES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return {
    credentials, authFiles: authFilesForRead(g.root, o.authfile), insecure: [...(o.insecureRegistry ?? []), ...fromEnv],
    ...tlsOptions(o),
  };
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

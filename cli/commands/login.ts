// `berth login REGISTRY` / `berth logout REGISTRY`: credentials in a docker-compatible auth file
// (<root>/auth.json, or $REGISTRY_AUTH_FILE, or --authfile). Login checks them against the registry.
import type { Register } from './index.js';
import { authFileForWrite, removeCredentials, storeCredentials, RegistryClient, parseReference } from '../../image/index.js';
import { invalidArgument, notFound } from '../../lib/errors.js';
import { addTlsOptions, tlsOptions, type TlsFlags } from './image-common.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function registryOf(arg: string | undefined): string {
  if (!arg) return 'docker.io';
  const host = arg.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return parseReference(`${host}/x`).registry;
}

export const register: Register = (program, globals) => {
  addTlsOptions(program.command('login')
    .description('log in to a registry')
    .argument('[registry]', 'registry host[:port] (default docker.io)')
    .option('-u, --username <user>', 'user name')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .option('--authfile <file>', 'auth file to write')
    .option('--insecure-registry', 'speak plain HTTP to this registry')
    .option('--no-verify', 'store without checking against the registry'))
    .action(async (arg: string | undefined, o: TlsFlags & { username?: string; password?: string; passwordStdin?: boolean; authfile?: string; insecureRegistry?: boolean; verify?: boolean }) => {
      const g = globals();
      const registry = registryOf(arg);
      if (!o.username) throw invalidArgument('login needs --username');
      const password = o.passwordStdin ? await readStdin() : o.password;
      if (!password) throw invalidArgument('login needs --password or --password-stdin');
      const creds = { username: o.username, password };
      if (o.verify !== false) {
        const client = new RegistryClient(registry, { credentials: creds, insecure: o.insecureRegistry ? [registry] : [], ...tlsOptions(o) });
        await client.checkLogin();
      }
      storeCredentials(authFileForWrite(g.root, o.authfile), registry, creds);
      console.log('Login Succeeded');
    });

  program.command('logout')
    .description('remove stored credentials for a registry')
    .argument('[registry]', 'registry host[:port] (default docker.io)')
    .option('--authfile <file>', 'auth file to edit')
    .action((arg: string | undefined, o: { authfile?: string }) => {
      const registry = registryOf(arg);
      const file = authFileForWrite(globals().root, o.authfile);
      if (!removeCredentials(file, registry)) throw notFound(`not logged in to ${registry} (in ${file})`);
      console.log(`Removed login credentials for ${registry}`);
    });
};

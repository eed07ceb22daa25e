import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseFlags, type FlagDef } from '../../runtime/cli/args.js';
import { parseSignal } from '../../runtime/container/signal.js';
import { parseDuration } from '../../runtime/cli/commands/events.js';
import { bytes } from '../../runtime/cli/commands/update.js';
import { buildExecProcess } from '../../runtime/container/exec.js';
import { mergeResources } from '../../runtime/container/update.js';

const defs: FlagDef[] = [
  { name: 'bundle', aliases: ['b'], type: 'string', help: '' },
  { name: 'detach', aliases: ['d'], type: 'bool', help: '' },
  { name: 'env', aliases: ['e'], type: 'list', help: '' },
  { name: 'preserve-fds', type: 'int', default: 0, help: '' },
];

test('flags: Go styles (-x, --x, --x=v, -x v), stop at the first positional', () => {
  const p = parseFlags(['-bundle', '/b', '--detach', '-e', 'A=1', '--env=B=2', '--preserve-fds=3', 'id', '--not-a-flag', 'x'], defs, 't');
  assert.equal(p.flags.bundle, '/b');
  assert.equal(p.flags.detach, true);
  assert.equal(p.flags.env, ['A=1', 'B=2']);
  assert.equal(p.flags['preserve-fds'], 3);
  assert.equal(p.rest, ['id', '--not-a-flag', 'x']);
});

test('flags: -- ends flags, booleans take =false, defaults apply', () => {
  const p = parseFlags(['-d=false', '--', '-b'], defs, 't');
  assert.equal(p.flags.detach, false);
  assert.equal(p.flags['preserve-fds'], 0);
  assert.equal(p.rest, ['-b']);
});

test('flags: unknown flag, missing value and bad int are clear errors', () => {
  assert.throws(() => parseFlags(['--nope'], defs, 'create'), /create: flag provided but not defined: -nope/);
  assert.throws(() => parseFlags(['--bundle'], defs, 'create'), /flag needs an argument: -bundle/);
  assert.throws(() => parseFlags(['--preserve-fds', 'x'], defs, 'create'), /not an integer/);
});

test('signals: names, SIG prefix, numbers, realtime', () => {
  assert.is(parseSignal('KILL'), 9);
  assert.is(parseSignal('SIGKILL'), 9);
  assert.is(parseSignal('sigterm'), 15);
  assert.is(parseSignal('9'), 9);
  assert.is(parseSignal(undefined), 15);
  assert.is(parseSignal('SIGRTMIN+3'), 37);
  assert.throws(() => parseSignal('SIGNOPE'), /unknown signal/);
  assert.throws(() => parseSignal('0'), /invalid signal/);
});

test('durations and byte sizes as runc takes them', () => {
  assert.is(parseDuration('5s'), 5000);
  assert.is(parseDuration('250ms'), 250);
  assert.throws(() => parseDuration('5'), /invalid duration/);
  assert.is(bytes('64m', 'memory'), 64 * 1024 * 1024);
  assert.is(bytes('1G', 'memory'), 1024 ** 3);
  assert.is(bytes('4096', 'memory'), 4096);
  assert.is(bytes('-1', 'memory'), -1);
  assert.throws(() => bytes('lots', 'memory'), /invalid value for --memory/);
});

test('exec process: container process is the template, flags override', () => {
  const base = { cwd: '/', user: { uid: 0, gid: 0 }, args: ['sh'], env: ['PATH=/bin'], terminal: true, capabilities: { bounding: ['CAP_KILL'] } };
  const p = buildExecProcess(base, { id: 'c', args: ['ls', '-l'], cwd: '/tmp', env: ['X=1'], user: '1000:2000', caps: ['CAP_NET_RAW'] });
  assert.equal(p.args, ['ls', '-l']);
  assert.is(p.cwd, '/tmp');
  assert.equal(p.env, ['PATH=/bin', 'X=1']);
  assert.equal(p.user, { uid: 1000, gid: 2000 });
  assert.is(p.terminal, false);
  assert.equal(p.capabilities?.bounding, ['CAP_KILL', 'CAP_NET_RAW']);
  assert.equal(base.args, ['sh'], 'template untouched');
  assert.equal(buildExecProcess(base, { id: 'c', args: ['id'], user: '7' }).user, { uid: 7, gid: 0 });
  assert.throws(() => buildExecProcess(base, { id: 'c', args: ['id'], user: 'root' }), /uid\[:gid\]/);
  assert.throws(() => buildExecProcess(base, { id: 'c', args: [] }), /give a command/);
});

test('update merges per section', () => {
  const m = mergeResources({ memory: { limit: 1, swap: 2 }, pids: { limit: 5 } }, { memory: { limit: 10 } });
  assert.equal(m, { memory: { limit: 10, swap: 2 }, pids: { limit: 5 } });
});

test.run();

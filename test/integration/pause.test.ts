// berth-pause as pid 1 of a fresh pid namespace: reaps orphans, ends with 0 on SIGTERM/SIGINT.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO, isRoot, run, skip } from '../lib/harness.js';

const PAUSE = path.join(REPO, 'native/build/berth-pause');
const BB = '/bin/busybox';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ensureBuilt(): boolean {
  const r = run('make', ['-s', '-C', path.join(REPO, 'native'), 'build/berth-pause']);
  if (r.status !== 0) throw new Error(`building berth-pause failed: ${r.stderr}`);
  return fs.existsSync(PAUSE);
}

const children = (pid: number): number[] => {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch { return []; }
};
const state = (pid: number): string | undefined => {
  try { return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0]; } catch { return undefined; }
};

async function until<T>(fn: () => T | undefined | false, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Start `init` as pid 1 of a new pid namespace; returns unshare's process and init's host pid. */
async function startInit(init: string[]): Promise<{ proc: ChildProcess; pid: number; exited: Promise<number | null> }> {
  const proc = spawn('unshare', ['-fp', '--mount-proc', ...init], { stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const pid = await until(() => children(proc.pid!)[0], 5000, `${init[0]} to start`);
  await until(() => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(init[0]), 5000, 'exec');
  return { proc, pid, exited };
}

/** pid 1 of a namespace ignores signals it has no handler for: wait until berth-pause caught them. */
async function handlersInstalled(pid: number): Promise<void> {
  const caught = () => BigInt('0x' + (/SigCgt:\s*([0-9a-f]+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '0'));
  const want = (1n << 1n) | (1n << 14n); // SIGINT (2) and SIGTERM (15), bit = signal - 1
  await until(() => (caught() & want) === want, 5000, 'berth-pause to install its signal handlers');
}

/** An exit that never comes fails the test instead of hanging the suite. */
function exitedWithin(exited: Promise<number | null>, ms = 5000): Promise<number | null | 'timeout'> {
  return Promise.race([exited, sleep(ms).then(() => 'timeout' as const)]);
}

/** Orphan a 1 s sleep (its stdio detached so nsenter returns at once) inside init's pid namespace; returns the orphan's host pid once init has adopted it. */
async function orphanInto(initPid: number): Promise<number> {
  const r = run('nsenter', ['-t', String(initPid), '-p', '--', BB, 'sh', '-c', `${BB} sleep 1 </dev/null >/dev/null 2>&1 & exit 0`]);
  assert.is(r.status, 0, r.stderr);
  return until(() => children(initPid)[0], 2000, 'the orphan to be reparented to pid 1');
}

test('-v prints the version', () => {
  if (!ensureBuilt()) return skip('berth-pause -v', 'not built');
  const r = run(PAUSE, ['-v']);
  assert.is(r.status, 0);
  assert.match(r.stdout, /^berth-pause \d+\.\d+\.\d+/);
  assert.is(run(PAUSE, ['--bogus']).status, 2);
});

test('reaps an orphan reparented to it, SIGTERM ends it with 0', async () => {
  if (!isRoot) return skip('berth-pause reaping', 'needs root for pid namespaces');
  ensureBuilt();
  const init = await startInit([PAUSE]);
  try {
    const orphan = await orphanInto(init.pid);
    assert.is.not(orphan, init.pid);
    // Once the sleep exits, nothing of it may stay behind: reaped, not a zombie.
    await until(() => state(orphan) === undefined, 3000, `orphan ${orphan} to be reaped (state ${state(orphan)})`);
    assert.equal(children(init.pid), []);
    await handlersInstalled(init.pid);
    process.kill(init.pid, 'SIGTERM');
    assert.is(await exitedWithin(init.exited), 0);
  } finally {
    if (state(init.pid)) process.kill(init.pid, 'SIGKILL');
  }
});

test('SIGINT ends it with 0 too', async () => {
  if (!isRoot) return skip('berth-pause SIGINT', 'needs root for pid namespaces');
  ensureBuilt();
  const init = await startInit([PAUSE]);
  try {
    await handlersInstalled(init.pid);
    process.kill(init.pid, 'SIGINT');
    assert.is(await exitedWithin(init.exited), 0);
  } finally {
    if (state(init.pid)) process.kill(init.pid, 'SIGKILL');
  }
});

test('control: an init that does not reap leaves the orphan a zombie', async () => {
  if (!isRoot) return skip('non-reaping init control', 'needs root for pid namespaces');
  const init = await startInit([BB, 'sleep', '30']);
  try {
    const orphan = await orphanInto(init.pid);
    await until(() => state(orphan) === 'Z', 3000, 'the orphan to become a zombie');
  } finally {
    process.kill(init.pid, 'SIGKILL');
    await init.exited;
  }
});

test.run();

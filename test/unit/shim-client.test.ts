// shim/ pieces that need no root: CRI log parsing, tail and follow across rotation, attach
// framing, the monitor's argv, and exit waiting against a real (non-monitor) process.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { skip, tmpDir } from '../lib/harness.js';
import { FrameDecoder, encodeFrame } from '../../shim/attach-frames.js';
import { followLogs, parseLogLine, readLogs, tailRecords, formatLogRecord, type LogRecord } from '../../shim/cri-log.js';
import { monitorArgv } from '../../shim/monitor-process.js';
import { waitExit, MONITOR_DIED } from '../../shim/exit-status.js';
import { processStartTime, spawnMonitor } from '../../shim/monitor-process.js';

const rec = (text: string, partial = false, stream: LogRecord['stream'] = 'stdout'): LogRecord => ({ time: '2026-01-02T03:04:05.000000001Z', stream, partial, text });

test('parseLogLine reads stream, partial flag and text (spaces kept)', () => {
  assert.equal(parseLogLine('2026-01-02T03:04:05.123456789Z stderr P  two  spaces '), { time: '2026-01-02T03:04:05.123456789Z', stream: 'stderr', partial: true, text: ' two  spaces ' });
  assert.equal(parseLogLine('2026-01-02T03:04:05.123456789Z stdout F '), { time: '2026-01-02T03:04:05.123456789Z', stream: 'stdout', partial: false, text: '' });
  assert.is(parseLogLine('garbage'), undefined);
  assert.is(parseLogLine('2026 stdin F x'), undefined);
});

test('tailRecords counts whole lines, a P run with its F being one', () => {
  const rs = [rec('a'), rec('b1', true), rec('b2', true), rec('b3'), rec('c')];
  assert.equal(tailRecords(rs, 1).map((r) => r.text), ['c']);
  assert.equal(tailRecords(rs, 2).map((r) => r.text), ['b1', 'b2', 'b3', 'c']);
  assert.equal(tailRecords(rs, 10).length, 5);
  assert.equal(tailRecords(rs, 0), []);
  assert.equal(tailRecords([rec('a'), rec('x', true)], 1).map((r) => r.text), ['x']);
});

test('readLogs reads rotated files oldest first; followLogs follows a rotation and stops when told', async () => {
  const d = tmpDir();
  const log = path.join(d, 'log');
  fs.writeFileSync(`${log}.2`, formatLogRecord(rec('l0')));
  fs.writeFileSync(`${log}.1`, formatLogRecord(rec('l1')));
  fs.writeFileSync(log, formatLogRecord(rec('l2')) + '2026-01-02T03:04:05.0Z stdout F unfinis');
  assert.equal(readLogs(log).map((r) => r.text), ['l0', 'l1', 'l2']);
  assert.equal(readLogs(log, { tail: 2 }).map((r) => r.text), ['l1', 'l2']);

  let release!: () => void;
  const until = new Promise<void>((r) => { release = r; });
  const seen: string[] = [];
  const done = (async () => { for await (const r of followLogs(log, { follow: true, until, pollMs: 10 })) seen.push(r.text); })();
  await new Promise((r) => setTimeout(r, 50));
  fs.appendFileSync(log, 'hed\n'); // the half-written record completes
  await new Promise((r) => setTimeout(r, 50));
  // Rotate as the monitor does: rename, then a new file.
  fs.renameSync(`${log}.1`, `${log}.2`);
  fs.renameSync(log, `${log}.1`);
  fs.writeFileSync(log, formatLogRecord(rec('after-rotation')));
  await new Promise((r) => setTimeout(r, 80));
  release();
  await done;
  assert.equal(seen, ['l0', 'l1', 'l2', 'unfinished', 'after-rotation']);
  fs.rmSync(d, { recursive: true });
});

test('FrameDecoder splits Docker-style frames across arbitrary chunking', () => {
  const got: string[] = [];
  const dec = new FrameDecoder((s, p) => got.push(`${s}:${p.toString()}`));
  const wire = Buffer.concat([encodeFrame(1, Buffer.from('out')), encodeFrame(2, Buffer.from('err!')), encodeFrame(1, Buffer.alloc(0))]);
  for (let i = 0; i < wire.length; i += 3) dec.push(wire.subarray(i, i + 3));
  assert.equal(got, ['1:out', '2:err!', '1:']);
  assert.is(dec.pending, 0);
  assert.throws(() => new FrameDecoder(() => {}).push(Buffer.from([9, 0, 0, 0, 0, 0, 0, 0])), /bad frame type 9/);
});

test('monitorArgv: create and exec modes, options, exit command last', () => {
  assert.equal(monitorArgv({ id: 'c1', runtime: '/usr/bin/runc', runtimeArgs: ['--root', '/r'], dir: '/d', bundle: '/b', logPath: '/d/log', logMaxSize: 100, logMaxFiles: 2, tty: true, ttySize: { rows: 5, cols: 6 }, stdin: true, stdinOnce: true, oomFile: '/o', exitCommand: ['/bin/cleanup', 'c1'] }), [
    '--id', 'c1', '--runtime', '/usr/bin/runc', '--dir', '/d', '--sync-fd', '3', '--runtime-arg', '--root', '--runtime-arg', '/r',
    '--bundle', '/b', '--log', '/d/log', '--log-max-size', '100', '--log-max-files', '2', '--tty', '--tty-size', '5x6',
    '--stdin', '--stdin-once', '--oom-file', '/o', '--exit-command', '/bin/cleanup', 'c1',
  ]);
  assert.equal(monitorArgv({ id: 'c1', runtime: '/rt', dir: '/d', execProcess: '/d/p.json', waitAttach: true }), ['--id', 'c1', '--runtime', '/rt', '--dir', '/d', '--sync-fd', '3', '--exec', '/d/p.json', '--wait-attach']);
  assert.throws(() => monitorArgv({ id: 'c1', runtime: '/rt', dir: '/d' }), /exactly one/);
});

test('waitExit returns exit.json once written, and "monitor died" when its process is gone first', async () => {
  const d = tmpDir();
  const p = spawn('sleep', ['30']);
  const target = { dir: d, monitorPid: p.pid!, monitorStartTime: processStartTime(p.pid!)! };
  const w = waitExit(target, { pollMs: 20 });
  fs.writeFileSync(path.join(d, 'exit.json'), JSON.stringify({ exitCode: 4, signal: null, exitedAt: 'x', reason: 'exited' }));
  assert.is((await w).exitCode, 4);
  fs.rmSync(path.join(d, 'exit.json'));
  const w2 = waitExit(target, { pollMs: 20 });
  p.kill('SIGKILL');
  const st = await w2;
  assert.is(st.reason, MONITOR_DIED);
  assert.is(JSON.parse(fs.readFileSync(path.join(d, 'exit.json'), 'utf8')).reason, MONITOR_DIED);
  // A live pid with another start time is not our monitor.
  const d2 = tmpDir();
  const st2 = await waitExit({ dir: d2, monitorPid: process.pid, monitorStartTime: '1' }, { pollMs: 20 });
  assert.is(st2.reason, MONITOR_DIED);
  fs.rmSync(d2, { recursive: true });
  fs.rmSync(d, { recursive: true });
});

const MONITOR = path.resolve('native/build/berth-monitor');

test('berth-monitor reports bad arguments and a runtime that cannot run, as errors with the cause', async () => {
  if (!fs.existsSync(MONITOR)) return skip('berth-monitor error paths', `${MONITOR} is not built (make -C native)`);
  await assert_rejects(spawnMonitor({ id: 'x', runtime: '/bin/true', dir: '/nonexistent/berth', bundle: '/b' }, { monitorPath: MONITOR }), /open \/nonexistent\/berth: No such file/);
  await assert_rejects(spawnMonitor({ id: 'x', runtime: 'relative', dir: '/tmp', bundle: '/b' }, { monitorPath: MONITOR }), /must be an absolute path/);
  const d = tmpDir();
  await assert_rejects(spawnMonitor({ id: 'x', runtime: '/nonexistent/runtime', dir: d, bundle: '/b', logPath: path.join(d, 'log') }, { monitorPath: MONITOR }),
    /\/nonexistent\/runtime create failed: exec \/nonexistent\/runtime: No such file or directory/);
  const st = JSON.parse(fs.readFileSync(path.join(d, 'exit.json'), 'utf8'));
  assert.is(st.reason, 'start-failed');
  assert.is(st.exitCode, 125);
  assert.match(st.error, /No such file/);
  // The monitor cleans up its sockets when it leaves.
  await new Promise((r) => setTimeout(r, 100));
  assert.not.ok(fs.existsSync(path.join(d, 'attach')) || fs.existsSync(path.join(d, 'ctl')));
  fs.rmSync(d, { recursive: true });
});

async function assert_rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected a rejection matching ${re}`);
}

test.run();

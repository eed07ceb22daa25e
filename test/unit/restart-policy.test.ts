// Docker's restart-policy decisions (engine/restart-policy.ts) without containers: which exits
// restart, the back-off sequence, when a container counts as restarting; the CLI's --restart syntax.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isRestarting, nextBackoff, shouldRestart, type Policy } from '../../engine/restart-policy.js';
import { parseRestart } from '../../cli/commands/container-common.js';
import { toCreateRequest } from '../../dockerapi/container-create.js';

const exit = (exitCode: number, o: { signal?: number; reason?: string } = {}) =>
  ({ exitCode, signal: o.signal ?? null, exitedAt: '2026-01-01T00:00:00Z', reason: o.reason ?? 'exited' });
const p = (name: Policy['name'], maxRetries = 0): Policy => ({ name, maxRetries });

test('which exits restart: no, on-failure[:N], always, unless-stopped; a user stop and a failed start never do', () => {
  assert.not.ok(shouldRestart(p('no'), exit(1), 0, false));
  assert.ok(shouldRestart(p('on-failure'), exit(1), 100, false));
  assert.not.ok(shouldRestart(p('on-failure'), exit(0), 0, false));
  assert.ok(shouldRestart(p('on-failure'), exit(0, { signal: 9 }), 0, false), 'killed by a signal is a failure (137)');
  assert.ok(shouldRestart(p('on-failure', 2), exit(3), 1, false));
  assert.not.ok(shouldRestart(p('on-failure', 2), exit(3), 2, false), 'two restarts begun: the third exit stays');
  for (const name of ['always', 'unless-stopped'] as const) {
    assert.ok(shouldRestart(p(name), exit(0), 50, false));
    assert.not.ok(shouldRestart(p(name), exit(0), 0, true));
    assert.not.ok(shouldRestart(p(name), exit(125, { reason: 'start-failed' }), 0, false));
  }
});

test("back-off: 100 ms doubling to a minute, back to 100 ms after a run of 10 s", () => {
  const seq: number[] = [];
  let d = 0;
  for (let i = 0; i < 12; i++) { d = nextBackoff(d, 50); seq.push(d); }
  assert.equal(seq, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]);
  assert.is(nextBackoff(60000, 10_000), 100);
  assert.is(nextBackoff(800, 9_999), 1600);
});

test('restarting: a live pending restart, or an exited run whose exit command has not decided yet but will restart it', () => {
  const base = { count: 0, backoffMs: 0 };
  const facts = { run: '10:1', exit: exit(1), monitorAlive: true, pendingAlive: false };
  assert.ok(isRestarting(p('always'), base, facts));
  assert.not.ok(isRestarting(p('no'), base, facts));
  assert.not.ok(isRestarting(p('always'), base, { ...facts, monitorAlive: false }), 'the exit command is done (or never ran)');
  assert.not.ok(isRestarting(p('always'), { ...base, decidedRun: '10:1' }, facts), 'decided: the state says what happens');
  assert.not.ok(isRestarting(p('always'), { ...base, stoppedRun: '10:1', stopKind: 'stop' }, facts));
  assert.not.ok(isRestarting(p('on-failure', 2), { ...base, count: 2 }, facts), 'the final exit is shown as exited at once');
  const pending = { since: '', delayMs: 100, pid: 1, pidStartTime: '1' };
  assert.ok(isRestarting(p('on-failure', 2), { ...base, count: 2, decidedRun: '10:1', pending }, { ...facts, pendingAlive: true }));
  assert.not.ok(isRestarting(p('always'), { ...base, decidedRun: '10:1', pending }, { ...facts, pendingAlive: false }), 'its process died: abandoned');
});

test('--restart syntax and the Docker API MaximumRetryCount', () => {
  assert.equal(parseRestart('on-failure:2'), { policy: 'on-failure', maxRetries: 2 });
  assert.equal(parseRestart('always'), { policy: 'always' });
  assert.throws(() => parseRestart('always:3'), /needs on-failure/);
  assert.throws(() => parseRestart('sometimes'), /--restart/);
  const r = toCreateRequest({ Image: 'x', HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } } }, undefined);
  assert.is(r.restartMaxRetries, 2);
  assert.is(toCreateRequest({ Image: 'x', HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 0 } } }, undefined).restartMaxRetries, undefined);
});

test.run();

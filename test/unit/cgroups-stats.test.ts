import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseIoStatV2, parseBlkioV1 } from '../../runtime/cgroups/stats.js';
import { parseFlatKeyed } from '../../runtime/cgroups/fs-util.js';

test('io.stat (v2) lines', () => {
  assert.equal(parseIoStatV2('8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n254:0 rbytes=1 wbytes=0 rios=1 wios=0\n'), [
    { major: 8, minor: 0, readBytes: 4096, writeBytes: 8192, readIos: 1, writeIos: 2 },
    { major: 254, minor: 0, readBytes: 1, writeBytes: 0, readIos: 1, writeIos: 0 },
  ]);
  assert.equal(parseIoStatV2(undefined), []);
});

test('blkio (v1) service bytes + serviced', () => {
  const bytes = '8:0 Read 4096\n8:0 Write 512\n8:0 Sync 0\n8:0 Total 4608\nTotal 4608\n';
  const ios = '8:0 Read 3\n8:0 Write 1\n8:0 Total 4\nTotal 4\n';
  assert.equal(parseBlkioV1(bytes, ios), [{ major: 8, minor: 0, readBytes: 4096, writeBytes: 512, readIos: 3, writeIos: 1 }]);
});

test('flat keyed files (memory.events, cpu.stat, oom_control)', () => {
  assert.equal(parseFlatKeyed('low 0\nhigh 2\nmax 5\noom 1\noom_kill 1\n'), { low: 0, high: 2, max: 5, oom: 1, oom_kill: 1 });
  assert.equal(parseFlatKeyed('oom_kill_disable 0\nunder_oom 0\noom_kill 3'), { oom_kill_disable: 0, under_oom: 0, oom_kill: 3 });
});

test.run();

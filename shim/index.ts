// shim/: the client side of berth-monitor (see monitor.ts for the handle most callers want).
export { Monitor, createContainer, startContainer, type CreateOptions, type ExecOptions, type ExecResult } from './monitor.js';
export { attach, type AttachStreams } from './attach.js';
export { FrameDecoder, encodeFrame } from './attach-frames.js';
export { followLogs, readLogs, parseLogLine, formatLogRecord, tailRecords, type LogRecord, type FollowOptions } from './cri-log.js';
export { readExit, waitExit, MONITOR_DIED } from './exit-status.js';
export { resize, reopenLog, closeStdin } from './control.js';
export { monitorArgv, spawnMonitor, monitorAlive, type MonitorArgs, type MonitorSpawner } from './monitor-process.js';
export { MonitorStandby } from './monitor-standby.js';
export { loadSession, type Session, type ExitStatus } from './session.js';

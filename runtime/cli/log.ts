// runc-style logging: errors go to stderr as one line; with --log they also go to that file in the
// chosen format (containerd reads the last JSON error line of it to report why runc failed).
import fs from 'node:fs';

export type LogFormat = 'text' | 'json';
export type Level = 'debug' | 'info' | 'warning' | 'error';

export interface Logger {
  debugEnabled: boolean;
  log(level: Level, msg: string): void;
  error(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
}

export function createLogger(opts: { file?: string; format: LogFormat; debug: boolean; err: (text: string) => void }): Logger {
  const write = (level: Level, msg: string) => {
    const time = new Date().toISOString();
    const line = opts.format === 'json'
      ? JSON.stringify({ level, msg, time }) + '\n'
      : `time="${time}" level=${level} msg=${JSON.stringify(msg)}\n`;
    if (opts.file) {
      try {
        fs.appendFileSync(opts.file, line, { mode: 0o600 });
        return;
      } catch {
        /* an unwritable log must not hide the message: fall through to stderr */
      }
    }
    if (level !== 'error') opts.err(line);
  };
  const logger: Logger = {
    debugEnabled: opts.debug,
    log(level, msg) {
      if (level === 'debug' && !opts.debug) return;
      write(level, msg);
    },
    error(msg) {
      write('error', msg);
      opts.err(`berth-runtime: ${msg}\n`);
    },
    warn: (msg) => logger.log('warning', msg),
    debug: (msg) => logger.log('debug', msg),
  };
  return logger;
}

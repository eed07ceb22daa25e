// Container names: docker-style generated names, and the rule every front end shares.
import crypto from 'node:crypto';
import { invalidArgument } from '../lib/errors.js';

const LEFT = ['admiring', 'brave', 'calm', 'clever', 'eager', 'focused', 'gentle', 'happy', 'jolly', 'keen', 'lucid',
  'modest', 'nifty', 'quirky', 'serene', 'sharp', 'stoic', 'tender', 'vibrant', 'wise', 'zealous', 'bold', 'crisp', 'dazzling'];
const RIGHT = ['archimedes', 'babbage', 'curie', 'darwin', 'einstein', 'fermi', 'galileo', 'hopper', 'kepler', 'lovelace',
  'meitner', 'newton', 'noether', 'pascal', 'ritchie', 'shannon', 'thompson', 'turing', 'wozniak', 'yalow', 'hamilton', 'knuth'];

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** Without the leading slash Docker allows: a name that can also be a file name in the name index. */
export function isValidName(n: string): boolean {
  return NAME_RE.test(n);
}

export function validateName(name: string): string {
  const n = name.startsWith('/') ? name.slice(1) : name;
  if (!NAME_RE.test(n)) throw invalidArgument(`invalid container name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return n;
}

export function generateName(taken: (n: string) => boolean): string {
  for (let i = 0; i < 100; i++) {
    const n = `${LEFT[crypto.randomInt(LEFT.length)]}_${RIGHT[crypto.randomInt(RIGHT.length)]}${i > 10 ? crypto.randomInt(100) : ''}`;
    if (!taken(n)) return n;
  }
  return `berth_${crypto.randomBytes(6).toString('hex')}`;
}

export function newContainerId(): string {
  return crypto.randomBytes(32).toString('hex');
}

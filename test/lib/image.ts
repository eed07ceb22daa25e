// Helpers for image tests: asserting async failures (uvu 0.5 has no assert.rejects).
import * as assert from 'uvu/assert';

export async function rejects(p: Promise<unknown>, match: RegExp | ((e: { code?: string; message: string }) => boolean), msg?: string): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code?: string; message: string };
    const ok = match instanceof RegExp ? match.test(err.message) : match(err);
    assert.ok(ok, `${msg ?? 'unexpected error'}: ${err.code ?? ''} ${err.message}`);
    return err;
  }
  assert.unreachable(msg ?? `expected a rejection matching ${match}`);
  throw new Error('unreachable');
}

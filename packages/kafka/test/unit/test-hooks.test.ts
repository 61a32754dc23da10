// The FERRY_TEST_CRASH hook: inert unless it names the pipeline, fires at the n-th transaction only, and a
// malformed value is refused rather than ignored (a test relying on it would otherwise pass without a crash).
// The real SIGKILL is proven end to end by packages/cli/test/integration/cluster-eos-abort.test.ts.
import { describe, expect, it } from 'vitest';
import { beforeCommitHook, parseCrashPoint } from '../../src/internal/test-hooks.js';

/** Stands in for the SIGKILL: keeps the line, then throws, so the hook's "never return" ends in a rejection. */
class Killed extends Error {}
const lines: string[] = [];
const kill = (line: string) => {
  lines.push(line);
  throw new Killed('killed');
};

describe('FERRY_TEST_CRASH', () => {
  it('parses before-commit:<pipeline>:<n>, a pipeline name with colons included', () => {
    expect(parseCrashPoint('before-commit:cases:3')).toEqual({ pipeline: 'cases', transaction: 3 });
    expect(parseCrashPoint('before-commit:a:b:12')).toEqual({ pipeline: 'a:b', transaction: 12 });
  });

  it.each([
    'before-commit:cases',
    'before-commit:cases:0',
    'after-commit:cases:1',
    'before-commit::1',
    'cases',
  ])('refuses %s', (value) => {
    expect(() => parseCrashPoint(value)).toThrow(TypeError);
  });

  it('gives no hook when unset or naming another pipeline', () => {
    expect(beforeCommitHook('cases', undefined, kill)).toBeUndefined();
    expect(beforeCommitHook('cases', '', kill)).toBeUndefined();
    expect(beforeCommitHook('cases', 'before-commit:hearings:1', kill)).toBeUndefined();
  });

  it('kills at the n-th transaction of the pipeline, counting across sinks of one process', async () => {
    const pipeline = `unit-${Date.now()}`;
    const first = beforeCommitHook(pipeline, `before-commit:${pipeline}:3`, kill)!;
    await first({ events: 1 });
    await first({ events: 1 });
    // A sink made again (the pipeline restarted in this process) counts on from 2.
    const second = beforeCommitHook(pipeline, `before-commit:${pipeline}:3`, kill)!;
    await expect(second({ events: 20, position: { id: 60 } })).rejects.toBeInstanceOf(Killed);
    // One JSON line saying where, for the test's log reader.
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'error',
      pipeline,
      transaction: 3,
      events: 20,
      position: { id: 60 },
      msg: expect.stringMatching(/^FERRY_TEST_CRASH: .* before its commit$/),
    });
  });
});

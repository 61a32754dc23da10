import { handleShutdownSignals } from '@ferry/core';
import { describe, expect, it } from 'vitest';

describe('shutdown signals', () => {
  it('aborts on the first signal and exits at once on the second', () => {
    const exits: number[] = [];
    const firsts: string[] = [];
    const handle = handleShutdownSignals((signal) => firsts.push(signal), ((code: number) => {
      exits.push(code);
    }) as (code: number) => never);
    try {
      process.emit('SIGTERM');
      expect(handle.signal.aborted).toBe(true);
      expect(firsts).toEqual(['SIGTERM']);
      expect(exits).toEqual([]);
      process.emit('SIGINT');
      expect(exits).toEqual([130]);
    } finally {
      handle.dispose();
    }
  });
});

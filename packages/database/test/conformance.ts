// The conformance checks a pass source (polling, trigger) runs. testkit's `honoursAbort` reads in continuous
// mode and expects the read to wait for changes, which is what a stream source does; a pass source's read
// ends by itself and core waits between passes. So pass sources declare that, and instead show that a pass
// ends without `once` and stops mid-pass when aborted.

import { silentLogger } from '@ferry/core/sdk';
import { type ConformanceCheck, honoursAbort, sourceConformanceChecks } from '@ferry/testkit';

export const passEndsAndHonoursAbort: ConformanceCheck = {
  name: 'is a pass source: a read ends by itself in continuous mode, and an abort mid-pass stops it at once',
  async run(makeSource, fixture) {
    const { expected } = await fixture.seed();
    const source = await makeSource();
    try {
      if (source.cadence.kind !== 'passes') throw new Error(`cadence is ${source.cadence.kind}, not passes`);
      const read = (signal: AbortSignal) =>
        source
          .read({ from: undefined, signal, once: false, log: silentLogger(), caughtUp: () => undefined })
          [Symbol.asyncIterator]();

      // Continuous mode: the pass reads the fixture and ends (a deadline catches a read that waits instead).
      const deadline = AbortSignal.timeout(fixture.timeoutMs ?? 60_000);
      const whole = read(deadline);
      let records = 0;
      for (let next = await whole.next(); !next.done; next = await whole.next())
        records += next.value.records.length;
      if (deadline.aborted) throw new Error('the pass did not end by itself in continuous mode');
      if (records !== expected) throw new Error(`the pass read ${records} records, expected ${expected}`);

      // Aborted after its first batch, with more to read: the pass yields nothing more and ends.
      const controller = new AbortController();
      const cut = read(controller.signal);
      const first = await cut.next();
      if (first.done) throw new Error('the pass yielded no batch');
      controller.abort();
      const started = performance.now();
      const after = await cut.next();
      if (!after.done) throw new Error('the pass yielded a batch after it was aborted');
      if (performance.now() - started > 5_000) throw new Error('the pass took more than 5 s to stop');
    } finally {
      await source.close();
    }
  },
};

/** testkit's checks for a pass source: every one but `honoursAbort`, whose pass form is above. */
export const passSourceChecks: ConformanceCheck[] = [
  ...sourceConformanceChecks.filter((check) => check !== honoursAbort),
  passEndsAndHonoursAbort,
];

// Pure logic of the SOAP source: argument templating, watermark order and sequences, the streaming reader,
// the pacing of calls (rate limit, concurrency cap) and the time limits of one call.
import { sequenceOf } from '@ferry/core/sdk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { compareWatermarks, SoapError, sortableWatermark } from '../../src/index.js';
import { CallClock } from '../../src/internal/call-clock.js';
import { CallGuard } from '../../src/internal/guard.js';
import { templateArguments } from '../../src/internal/pager.js';
import { SoapResponseReader, type XmlObject } from '../../src/internal/xml-stream.js';

describe('templateArguments', () => {
  it('fills {{since}} and {{page}}, keeping raw values for whole placeholders', () => {
    expect(
      templateArguments(
        {
          since: '{{since}}',
          page: '{{ page }}',
          label: 'p{{page}}-{{since}}',
          nested: [{ s: '{{since}}' }],
          n: 5,
        },
        { since: '2024-01-01T00:00:00Z', page: 3 },
      ),
    ).toEqual({
      since: '2024-01-01T00:00:00Z',
      page: 3,
      label: 'p3-2024-01-01T00:00:00Z',
      nested: [{ s: '2024-01-01T00:00:00Z' }],
      n: 5,
    });
  });
});

describe('compareWatermarks', () => {
  it('orders timestamps as instants, numbers as numbers, and the empty watermark first', () => {
    expect(compareWatermarks('2024-01-01T01:00:00+01:00', '2024-01-01T00:30:00Z', 'timestamp')).toBeLessThan(
      0,
    );
    expect(compareWatermarks('10', '9', 'number')).toBeGreaterThan(0);
    expect(compareWatermarks('10', '9', 'string')).toBeLessThan(0);
    expect(compareWatermarks('', '1', 'number')).toBeLessThan(0);
    expect(compareWatermarks('a', 'a', 'string')).toBe(0);
  });
});

describe('sortableWatermark', () => {
  it('turns watermarks into text whose string order is their order', () => {
    const sorted = (values: string[], type: 'timestamp' | 'number' | 'string') =>
      values.map((v) => sortableWatermark(v, type)).sort();
    // Instants in any offset become UTC ISO-8601.
    expect(sortableWatermark('2024-01-01T01:00:00+01:00', 'timestamp')).toBe('2024-01-01T00:00:00.000Z');
    expect(
      sorted(['2024-01-01T00:30:00Z', '2024-01-01T01:00:00+01:00', '2023-12-31T23:59:59.5Z'], 'timestamp'),
    ).toEqual(['2023-12-31T23:59:59.500Z', '2024-01-01T00:00:00.000Z', '2024-01-01T00:30:00.000Z']);
    // Numbers are zero-padded as sequenceOf pads them, decimals keep their fraction.
    expect(sortableWatermark('42', 'number')).toBe(sequenceOf(42));
    expect(
      sorted(['10', '9', '9.5', '9.25', '100000000000000000000'], 'number').map((s) => s.replace(/^0+/, '')),
    ).toEqual(['9', '9.25', '9.5', '10', '100000000000000000000']);
    // Strings (and what does not parse) stay as they are.
    expect(sortableWatermark('b-17', 'string')).toBe('b-17');
    expect(sortableWatermark('not a date', 'timestamp')).toBe('not a date');
  });
});

function read(
  xml: string,
  recordPath = 'R.Item[]',
  chunk = 7,
): { records: XmlObject[]; reader: SoapResponseReader } {
  const records: XmlObject[] = [];
  const reader = new SoapResponseReader({
    recordPath,
    scalarPaths: ['R.Next'],
    maxBytes: 1_000_000,
    maxDepth: 64,
    onRecord: (r) => records.push(r),
    where: 'test',
  });
  for (let i = 0; i < xml.length; i += chunk) reader.write(xml.slice(i, i + chunk), chunk);
  return { records, reader };
}

const wrap = (body: string) =>
  `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><x>1</x></s:Header><s:Body>${body}</s:Body></s:Envelope>`;

describe('SoapResponseReader', () => {
  it('hands out records at the path, with repeated children as arrays, nil as null, and captures scalars', () => {
    const { records, reader } = read(
      wrap(
        '<m:Resp xmlns:m="urn:x"><m:R><m:Item><m:Id>1</m:Id><m:Tag>a</m:Tag><m:Tag>b</m:Tag><m:Note xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/></m:Item>' +
          '<m:Item><m:Id>2 &amp; 3</m:Id><m:Sub><m:Z><![CDATA[<z>]]></m:Z></m:Sub></m:Item><m:Next>tok</m:Next></m:R></m:Resp>',
      ),
    );
    expect(records).toEqual([
      { Id: '1', Tag: ['a', 'b'], Note: null },
      { Id: '2 & 3', Sub: { Z: '<z>' } },
    ]);
    const result = reader.finish();
    expect(result).toMatchObject({ bodyElement: 'Resp', records: 2, fault: undefined });
    expect(result.scalars.get('R.Next')).toBe('tok');
  });

  it('reads SOAP 1.1 and 1.2 faults', () => {
    const f11 = read(
      wrap('<s:Fault><faultcode>s:Server</faultcode><faultstring>down</faultstring></s:Fault>'),
    );
    expect(f11.reader.finish().fault).toEqual({ code: 's:Server', reason: 'down' });
    const f12 = read(
      wrap(
        '<e:Fault xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Code><e:Value>e:Sender</e:Value><e:Subcode><e:Value>a:Bad</e:Value></e:Subcode></e:Code><e:Reason><e:Text xml:lang="en">bad</e:Text></e:Reason></e:Fault>',
      ),
    );
    expect(f12.reader.finish().fault).toEqual({ code: 'e:Sender', subcode: 'a:Bad', reason: 'bad' });
  });

  it('refuses a DOCTYPE and a body without an envelope', () => {
    expect(() => read(`<!DOCTYPE x [<!ENTITY a "b">]>${wrap('')}`)).toThrow(/DOCTYPE/);
    expect(() => read('<html/>').reader.finish()).toThrow(SoapError);
  });
});

describe('CallGuard', () => {
  it('keeps to calls per second and the concurrency cap', async () => {
    const guard = new CallGuard({ callsPerSecond: 20, concurrency: 2 });
    let inFlight = 0;
    let peak = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 6 }, () =>
        guard.run(async () => {
          inFlight += 1;
          peak = Math.max(peak, inFlight);
          await new Promise((r) => setTimeout(r, 30));
          inFlight -= 1;
        }),
      ),
    );
    expect(peak).toBeLessThanOrEqual(2);
    // Six calls at 20/s: the last starts at least 250 ms after the first.
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
  });

  it('frees the slot of a call that failed', async () => {
    const guard = new CallGuard({ callsPerSecond: 0, concurrency: 1 });
    await expect(guard.run(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
    await expect(guard.run(async () => 'next')).resolves.toBe('next');
  });
});

describe('CallClock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A wait the service answers after `ms` (fake time). */
  const answerAfter = (ms: number) =>
    new Promise<string>((resolve) => setTimeout(() => resolve('bytes'), ms));
  const never = () => new Promise<string>(() => {});

  it('cuts off a silence at timeoutMs with ETIMEDOUT, and drops the connection first', async () => {
    vi.useFakeTimers();
    const clock = new CallClock({ timeoutMs: 100, deadlineMs: 10_000 });
    const dropped: Error[] = [];
    const waiting = clock.wait(
      never(),
      'the response headers',
      () => '',
      (e) => dropped.push(e),
    );
    const outcome = expect(waiting).rejects.toMatchObject({
      code: 'ETIMEDOUT',
      message: 'nothing for timeoutMs (100 ms) while waiting for the response headers',
    });
    await vi.advanceTimersByTimeAsync(100);
    await outcome;
    expect(dropped).toHaveLength(1);
  });

  it('adds up the waits of a call and cuts off a drip at deadlineMs, though no single wait was long', async () => {
    vi.useFakeTimers();
    const clock = new CallClock({ timeoutMs: 100, deadlineMs: 250 });
    for (let i = 0; i < 3; i += 1) {
      const step = clock.wait(
        answerAfter(80),
        'the next bytes',
        () => '',
        () => {},
      );
      await vi.advanceTimersByTimeAsync(80);
      await expect(step).resolves.toBe('bytes');
    }
    expect(clock.waited).toBe(240);
    const last = clock.wait(
      answerAfter(80),
      'the next bytes',
      () => '42 bytes of it received',
      () => {},
    );
    const outcome = expect(last).rejects.toMatchObject({
      code: 'SOAP_DEADLINE_EXCEEDED',
      deadlineMs: 250,
      message: 'the answer was not complete within deadlineMs (250 ms) of waiting; 42 bytes of it received',
    });
    // 10 ms were left of the deadline.
    await vi.advanceTimersByTimeAsync(10);
    await outcome;
  });

  it('does not count the time between waits (records handed on to a slow sink)', async () => {
    vi.useFakeTimers();
    const clock = new CallClock({ timeoutMs: 100, deadlineMs: 150 });
    for (let i = 0; i < 5; i += 1) {
      const step = clock.wait(
        answerAfter(20),
        'the next bytes',
        () => '',
        () => {},
      );
      await vi.advanceTimersByTimeAsync(20);
      await expect(step).resolves.toBe('bytes');
      // The consumer holds the records for a long time: the service is not waited on meanwhile.
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(clock.waited).toBe(100);
  });

  it('lets the deadline win when it is shorter than timeoutMs', async () => {
    vi.useFakeTimers();
    const clock = new CallClock({ timeoutMs: 30_000, deadlineMs: 200 });
    const waiting = clock.wait(
      never(),
      'the response headers',
      () => 'no response headers yet',
      () => {},
    );
    const outcome = expect(waiting).rejects.toMatchObject({ code: 'SOAP_DEADLINE_EXCEEDED' });
    await vi.advanceTimersByTimeAsync(200);
    await outcome;
  });
});

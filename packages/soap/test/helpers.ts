// Test helpers: drive a Source the way the runtime does, and talk to the spyne service's control endpoint.
import { type Batch, type Source, silentLogger } from '@ferry/core';
import { services } from '../../../test/services/endpoints.js';

/** Read batches from `from` until the source ends or `limit` batches were read (a simulated crash). */
export async function readBatches<P>(
  source: Source<P>,
  from: P | undefined,
  limit = Number.POSITIVE_INFINITY,
): Promise<Batch<P>[]> {
  const stop = new AbortController();
  const batches: Batch<P>[] = [];
  const iterator = source.read({ from, signal: stop.signal, once: true, log: silentLogger() });
  for await (const batch of iterator) {
    batches.push(batch);
    if (batches.length >= limit) break;
  }
  stop.abort();
  return batches;
}

export async function spyneControl(body: Record<string, unknown>): Promise<{ calls: number; cases: number }> {
  const response = await fetch(services.spyne.control, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) throw new Error(`spyne control answered ${response.status}`);
  return (await response.json()) as { calls: number; cases: number };
}

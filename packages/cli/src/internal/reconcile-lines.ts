// Lines of a text file in batches, one per read chunk: iterating line by line through promises makes
// enough garbage per line that a million-line file alone would take the heap past the memory budget.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** Lines without their line ends, numbered from 1; blank lines included. */
export async function* lineBatches(path: string): AsyncIterable<{ first: number; lines: string[] }> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let next = 1;
  for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 })) {
    const lines = (rest + decoder.write(chunk as Buffer)).split('\n');
    rest = lines.pop()!;
    for (let i = 0; i < lines.length; i += 1) if (lines[i]!.endsWith('\r')) lines[i] = lines[i]!.slice(0, -1);
    yield { first: next, lines };
    next += lines.length;
  }
  rest += decoder.end();
  if (rest !== '') yield { first: next, lines: [rest.replace(/\r$/, '')] };
}

/** The objects of an object-mode stream, as many as are buffered at a time. */
export async function* objectBatches<T>(stream: Readable, max = 5000): AsyncIterable<T[]> {
  let failure: unknown;
  let ended = false;
  let wake: (() => void) | undefined;
  const onError = (error: unknown) => {
    failure = error;
    wake?.();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  const onReadable = () => wake?.();
  stream.on('error', onError);
  stream.on('end', onEnd);
  stream.on('readable', onReadable);
  try {
    for (;;) {
      if (failure !== undefined) throw failure;
      const batch: T[] = [];
      while (batch.length < max) {
        const item = stream.read() as T | null;
        if (item === null) break;
        batch.push(item);
      }
      if (batch.length > 0) {
        yield batch;
        continue;
      }
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    stream.off('error', onError);
    stream.off('end', onEnd);
    stream.off('readable', onReadable);
    stream.destroy();
  }
}

// The embedded default sink: one append-only JSON Lines file per topic, fsynced when a batch is written.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { FerryError } from '../errors.js';
import { topicResolver } from '../event.js';
import type { CanonicalEvent, EncodedEvents, Sink } from '../types.js';
import { JsonlAppender, jsonLines, NEWLINE, readJsonl } from './jsonl.js';

export interface FileSinkConfig {
  /** Directory that holds `<topic>.jsonl` files. */
  dir: string;
  /** Topic name template, as for Kafka: `{type}.v{major}` gives `justice.offender.v1`. */
  topic?: string;
}

/**
 * A batch as the file sink writes it: per topic file, its lines as UTF-8, each ending in a newline. Bytes, not
 * a joined string: a batch's text is large enough that V8 would allocate it in the old generation, and bytes
 * waiting for their write are kept outside the JavaScript heap.
 */
interface EncodedLines extends EncodedEvents {
  readonly byTopic: Map<string, Buffer>;
}

/**
 * Where one event ends and the next begins in `JSON.stringify(events)` when every event's first member is
 * `specversion` (as the runtime's envelopes have it): the comma there becomes the line's newline.
 */
const BOUNDARY = Buffer.from('},{"specversion":');

/** Serialised starting with `{"specversion":`: its first own member, and nothing that rewrites it. */
function startsWithSpecversion(event: CanonicalEvent): boolean {
  if (typeof event !== 'object' || event === null || typeof event.specversion !== 'string') return false;
  if ('toJSON' in event) return false;
  for (const key in event) return key === 'specversion';
  return false;
}

/**
 * Events as JSON lines in one buffer, each line what `JSON.stringify(event)` gives, followed by a newline.
 * One JSON.stringify of the whole list costs less than one per event (issue 18); its element boundaries are
 * found in the bytes and turned into newlines. That is exact only when every boundary is found and nothing
 * else looks like one (an event's data could hold the same characters): otherwise the events are
 * serialised one by one.
 */
function linesOf(events: readonly CanonicalEvent[]): Buffer {
  if (events.length === 0) return Buffer.alloc(0);
  if (events.every(startsWithSpecversion)) {
    // "[" + first + "," + second + … + "]": the list's brackets become nothing and the last newline.
    const body = Buffer.from(JSON.stringify(events), 'utf8').subarray(1);
    const commas: number[] = [];
    for (let at = body.indexOf(BOUNDARY); at !== -1; at = body.indexOf(BOUNDARY, at + BOUNDARY.length)) {
      commas.push(at + 1);
      if (commas.length >= events.length) break;
    }
    if (commas.length === events.length - 1) {
      for (const at of commas) body[at] = NEWLINE;
      body[body.length - 1] = NEWLINE;
      return body;
    }
  }
  return jsonLines(events);
}

export class FileEventLogSink implements Sink {
  readonly type = 'file';
  private readonly appenders = new Map<string, JsonlAppender>();

  /** The topic of an event, resolved once per type and schema. */
  private readonly topicOf: (event: CanonicalEvent) => string;

  constructor(private readonly config: FileSinkConfig) {
    this.topicOf = topicResolver(config.topic);
  }

  pathFor(topic: string): string {
    return join(this.config.dir, `${topic.replace(/[^A-Za-z0-9._-]/g, '_')}.jsonl`);
  }

  async write(events: CanonicalEvent[]): Promise<void> {
    await this.writeEncoded([this.encode(events)]);
  }

  /** Each event serialised once, into its topic file's text: the line the file will hold. */
  encode(events: CanonicalEvent[]): EncodedLines {
    const byFile = new Map<string, CanonicalEvent[]>();
    for (const event of events) {
      const topic = this.topicOf(event);
      const list = byFile.get(topic);
      if (list) list.push(event);
      else byFile.set(topic, [event]);
    }
    // Written now into one buffer per file: the events die young.
    const byTopic = new Map<string, Buffer>();
    let bytes = 0;
    for (const [topic, list] of byFile) {
      const encoded = linesOf(list);
      bytes += encoded.length;
      byTopic.set(topic, encoded);
    }
    return { count: events.length, bytes, byTopic };
  }

  /** One append (one write, one fsync) per topic file for all the batches. */
  async writeEncoded(batches: EncodedEvents[]): Promise<void> {
    const byTopic = new Map<string, Buffer[]>();
    for (const batch of batches as EncodedLines[]) {
      for (const [topic, encoded] of batch.byTopic) {
        const list = byTopic.get(topic);
        if (list) list.push(encoded);
        else byTopic.set(topic, [encoded]);
      }
    }
    for (const [topic, buffers] of byTopic) {
      let appender = this.appenders.get(topic);
      if (!appender) {
        appender = new JsonlAppender(this.pathFor(topic));
        this.appenders.set(topic, appender);
      }
      await appender.appendBytes(buffers);
    }
  }

  /**
   * Readiness: the directory is one this process can create files in, checked without writing anything. A
   * directory not made yet counts when its nearest existing parent is writable, since the first write creates it.
   */
  async probe(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    let dir = resolve(this.config.dir);
    for (;;) {
      try {
        if (!(await stat(dir)).isDirectory()) {
          throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
        }
        await access(dir, constants.W_OK | constants.X_OK);
        return;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && dirname(dir) !== dir) {
          dir = dirname(dir);
          continue;
        }
        throw new FerryError(
          'EVENT_LOG_WRITE_FAILED',
          `the file sink cannot write to ${this.config.dir}: ${(error as Error).message}`,
          { cause: error, retryable: code === 'EIO' || code === 'EAGAIN', details: { path: dir, code } },
        );
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.appenders.values()].map((a) => a.close()));
    this.appenders.clear();
  }
}

export function createFileSink(config: FileSinkConfig): FileEventLogSink {
  return new FileEventLogSink(config);
}

/** Every event in one topic file, in the order written. */
export async function* readEventLog(path: string): AsyncIterable<CanonicalEvent> {
  for await (const { value } of readJsonl<CanonicalEvent>(path)) yield value;
}

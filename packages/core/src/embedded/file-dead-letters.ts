// The embedded dead-letter place: one JSON Lines file per pipeline, each line a DeadLetter. Letters that
// `ferry dlq replay` published are recorded by id in a second file (<pipeline>.dlq.replayed.jsonl), which
// list() skips, so a letter is replayed once.
import { join } from 'node:path';
import { stableStringify, uuidV5 } from '../event.js';
import type { DeadLetter, DeadLetterSink } from '../types.js';
import { JsonlAppender, readJsonl } from './jsonl.js';

export interface FileDeadLetterConfig {
  dir: string;
  pipeline: string;
}

export class FileDeadLetterSink implements DeadLetterSink {
  readonly type = 'file';
  readonly path: string;
  readonly replayedPath: string;
  private readonly appender: JsonlAppender;
  private replayedAppender: JsonlAppender | undefined;

  constructor(config: FileDeadLetterConfig) {
    const base = config.pipeline.replace(/[^A-Za-z0-9._-]/g, '_');
    this.path = join(config.dir, `${base}.dlq.jsonl`);
    this.replayedPath = join(config.dir, `${base}.dlq.replayed.jsonl`);
    this.appender = new JsonlAppender(this.path);
  }

  write(letters: DeadLetter[]): Promise<void> {
    return this.appender.append(letters);
  }

  async *list(): AsyncIterable<DeadLetter> {
    const replayed = new Set<string>();
    for await (const { value } of readJsonl<{ id: string }>(this.replayedPath)) replayed.add(value.id);
    const seen = new Set<string>();
    for await (const { value } of readJsonl<DeadLetter>(this.path)) {
      const id = fileDeadLetterId(value);
      // A batch re-read after a crash writes its letters again: list each once.
      if (replayed.has(id) || seen.has(id)) continue;
      seen.add(id);
      yield value;
    }
  }

  markReplayed(replays: { letter: DeadLetter; events: string[] }[]): Promise<void> {
    this.replayedAppender ??= new JsonlAppender(this.replayedPath);
    const at = new Date().toISOString();
    return this.replayedAppender.append(
      replays.map(({ letter, events }) => ({ id: fileDeadLetterId(letter), replayedAt: at, events })),
    );
  }

  async close(): Promise<void> {
    await this.appender.close();
    await this.replayedAppender?.close();
  }
}

/** A letter's identity: where it came from and what it was, so a re-written letter has the same id. */
function fileDeadLetterId(letter: DeadLetter): string {
  return uuidV5(
    stableStringify(['dlq', letter.pipeline, letter.stream, letter.stage, letter.origin, letter.record]),
  );
}

export function createFileDeadLetterSink(config: FileDeadLetterConfig): FileDeadLetterSink {
  return new FileDeadLetterSink(config);
}

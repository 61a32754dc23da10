// The embedded dead-letter place: one JSON Lines file per pipeline, each line a DeadLetter.
import { join } from 'node:path';
import type { DeadLetter, DeadLetterSink } from '../types.js';
import { JsonlAppender, readJsonl } from './jsonl.js';

export interface FileDeadLetterConfig {
  dir: string;
  pipeline: string;
}

export class FileDeadLetterSink implements DeadLetterSink {
  readonly type = 'file';
  readonly path: string;
  private readonly appender: JsonlAppender;

  constructor(config: FileDeadLetterConfig) {
    this.path = join(config.dir, `${config.pipeline.replace(/[^A-Za-z0-9._-]/g, '_')}.dlq.jsonl`);
    this.appender = new JsonlAppender(this.path);
  }

  write(letters: DeadLetter[]): Promise<void> {
    return this.appender.append(letters);
  }

  async *list(): AsyncIterable<DeadLetter> {
    for await (const { value } of readJsonl<DeadLetter>(this.path)) yield value;
  }

  close(): Promise<void> {
    return this.appender.close();
  }
}

export function createFileDeadLetterSink(config: FileDeadLetterConfig): FileDeadLetterSink {
  return new FileDeadLetterSink(config);
}

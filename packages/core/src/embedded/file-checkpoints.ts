// The embedded checkpoint store: one small JSON file per pipeline, replaced atomically (write a temp file,
// fsync it, rename it over the old one, fsync the directory), so a crash leaves the old or the new
// checkpoint, never a torn one.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../errors.js';
import type { CheckpointStore, PassState, UnitTallyState } from '../types.js';

export interface FileCheckpointConfig {
  dir: string;
}

interface CheckpointFile {
  pipeline: string;
  position: unknown;
  savedAt: string;
}

export class FileCheckpointStore implements CheckpointStore {
  readonly type = 'file';
  private sequence = 0;

  constructor(private readonly config: FileCheckpointConfig) {}

  pathFor(pipeline: string, kind: 'checkpoint' | 'pass' | 'unit' = 'checkpoint'): string {
    return join(this.config.dir, `${pipeline.replace(/[^A-Za-z0-9._-]/g, '_')}.${kind}.json`);
  }

  async load(pipeline: string): Promise<unknown> {
    return (await this.read(this.pathFor(pipeline)))?.position;
  }

  async loadPassState(pipeline: string): Promise<PassState | undefined> {
    const state = (await this.read(this.pathFor(pipeline, 'pass')))?.position;
    return state === undefined ? undefined : (state as PassState);
  }

  async loadUnitTally(pipeline: string): Promise<UnitTallyState | undefined> {
    const state = (await this.read(this.pathFor(pipeline, 'unit')))?.position;
    return state === undefined ? undefined : (state as UnitTallyState);
  }

  async save(pipeline: string, position: unknown): Promise<void> {
    await this.write(this.pathFor(pipeline), { pipeline, position, savedAt: new Date().toISOString() });
  }

  async savePassState(pipeline: string, state: PassState): Promise<void> {
    await this.write(this.pathFor(pipeline, 'pass'), {
      pipeline,
      position: state,
      savedAt: new Date().toISOString(),
    });
  }

  async saveUnitTally(pipeline: string, state: UnitTallyState): Promise<void> {
    await this.write(this.pathFor(pipeline, 'unit'), {
      pipeline,
      position: state,
      savedAt: new Date().toISOString(),
    });
  }

  private async read(path: string): Promise<CheckpointFile | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new FerryError(
        'CHECKPOINT_CORRUPT',
        `cannot read checkpoint ${path}: ${(error as Error).message}`,
        {
          cause: error,
          details: { path },
        },
      );
    }
    try {
      return JSON.parse(text) as CheckpointFile;
    } catch (error) {
      throw new FerryError(
        'CHECKPOINT_CORRUPT',
        `checkpoint ${path} is not valid JSON; inspect it, then fix it with 'ferry offsets set' or 'ferry offsets reset'`,
        { cause: error, details: { path } },
      );
    }
  }

  private async write(path: string, body: CheckpointFile): Promise<void> {
    const temp = `${path}.${process.pid}.${++this.sequence}.tmp`;
    try {
      await mkdir(this.config.dir, { recursive: true });
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(`${JSON.stringify(body, null, 2)}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
      const dir = await open(this.config.dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (error) {
      await rm(temp, { force: true });
      const code = (error as NodeJS.ErrnoException).code;
      throw new FerryError(
        'CHECKPOINT_WRITE_FAILED',
        `cannot save checkpoint ${path}: ${(error as Error).message}`,
        {
          cause: error,
          retryable: code === 'ENOSPC' || code === 'EMFILE' || code === 'EIO' || code === 'EAGAIN',
          details: { path },
        },
      );
    }
  }

  async clear(pipeline: string): Promise<void> {
    await rm(this.pathFor(pipeline), { force: true });
    await rm(this.pathFor(pipeline, 'pass'), { force: true });
    await rm(this.pathFor(pipeline, 'unit'), { force: true });
  }
}

export function createFileCheckpointStore(config: FileCheckpointConfig): FileCheckpointStore {
  return new FileCheckpointStore(config);
}

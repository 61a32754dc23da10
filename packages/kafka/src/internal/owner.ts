// A pipeline's ownership generation (cluster mode, checkpoint fencing): the run that claims a pipeline reads
// the checkpoint topic after its transactional producer has fenced the previous owner, so the generation it
// finds there is final, and takes the next one. Every checkpoint it commits carries (worker, generation).
import { hostname } from 'node:os';
import { type CheckpointOwner, decodeCheckpoint } from './records.js';
import type { KafkaTransport } from './transport.js';

/** The name a process's commits carry when no cluster worker name was given. */
export function defaultWorkerName(): string {
  return `${hostname()}-${process.pid}`;
}

/** The owner this run commits as: one generation past the last committed under any of `keys`. */
export async function claimOwnership(
  transport: KafkaTransport,
  topic: string,
  keys: readonly string[],
  worker: string | undefined,
  timeoutMs: number,
): Promise<CheckpointOwner> {
  let generation = 0;
  await transport.readTopic(
    topic,
    (message) => {
      const key = message.key?.toString();
      if (key === undefined || !keys.includes(key)) return;
      const owner = decodeCheckpoint(message)?.owner;
      if (owner && owner.generation > generation) generation = owner.generation;
    },
    { timeoutMs },
  );
  return { worker: worker ?? defaultWorkerName(), generation: generation + 1 };
}

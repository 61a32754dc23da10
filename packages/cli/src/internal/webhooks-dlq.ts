// `ferry dlq list|replay <webhooks.yaml>`: a webhooks runner's dead letters, one file dead-letter place per
// subscription. Replay sends each pending event again to its subscription (after the endpoint is fixed), in
// the order the letters were written, so a subject's events go in their order; a letter whose event is now
// delivered is marked replayed and never sent again; one that fails again stays pending, unchanged. Messages
// that were not events (stage `source`) cannot be sent: they are listed and left.
import {
  type CanonicalEvent,
  createFileDeadLetterSink,
  type DeadLetter,
  letterId,
  pendingLetters,
} from '@ferry/core';
import { Dispatcher, loadWebhooksFile, type WebhooksFile } from '@ferry/webhooks';

export interface WebhookReplay {
  subscription: string;
  delivered: DeadLetter[];
  failed: { letter: DeadLetter; code: string; message: string }[];
  /** Letters that hold no event to send (a message that was not a CloudEvent). */
  unsendable: DeadLetter[];
}

/** Whether a YAML text is a webhooks file rather than a pipeline. */
export function isWebhooksText(text: string): boolean {
  return /^webhooks\s*:/m.test(text) && !/^pipeline\s*:/m.test(text);
}

const sinkOf = (config: WebhooksFile, subscription: string) =>
  createFileDeadLetterSink({ dir: config.deadLetters.dir, pipeline: `webhooks/${subscription}` });

/** Every pending letter of every subscription (or of one). */
export async function listWebhookLetters(
  file: string,
  only?: string,
): Promise<{ subscription: string; letter: DeadLetter; id: string }[]> {
  const { config } = await loadWebhooksFile(file);
  const out: { subscription: string; letter: DeadLetter; id: string }[] = [];
  for (const { name } of config.subscriptions.filter((s) => only === undefined || s.name === only)) {
    const sink = sinkOf(config, name);
    try {
      for await (const letter of pendingLetters(sink))
        out.push({ subscription: name, letter, id: letterId(letter) });
    } finally {
      await sink.close();
    }
  }
  return out;
}

export async function replayWebhookLetters(
  file: string,
  options: { subscription?: string; dryRun: boolean },
): Promise<WebhookReplay[]> {
  const { config } = await loadWebhooksFile(file);
  const results: WebhookReplay[] = [];
  for (const subscription of config.subscriptions) {
    if (options.subscription !== undefined && subscription.name !== options.subscription) continue;
    const result: WebhookReplay = {
      subscription: subscription.name,
      delivered: [],
      failed: [],
      unsendable: [],
    };
    results.push(result);
    const sink = sinkOf(config, subscription.name);
    const refusals = new Map<string, DeadLetter>();
    // Failures are collected here, not written: the letter they came from stays pending as it was.
    const dispatcher = new Dispatcher({
      subscription: { ...subscription, onFailure: 'continue' },
      policy: { allow: config.allow },
      deadLetters: async (letters) => {
        for (const l of letters) refusals.set((l.record as CanonicalEvent).id, l);
      },
    });
    try {
      const sending: { letter: DeadLetter; done: Promise<unknown> }[] = [];
      for await (const letter of pendingLetters(sink)) {
        if (letter.stage !== 'sink') {
          result.unsendable.push(letter);
          continue;
        }
        if (options.dryRun) {
          result.delivered.push(letter);
          continue;
        }
        const { done } = await dispatcher.enqueue(letter.record as CanonicalEvent, letter.origin);
        sending.push({ letter, done });
      }
      for (const { letter, done } of sending) {
        const outcome = (await done) as { kind: string };
        if (outcome.kind === 'delivered') result.delivered.push(letter);
        else {
          const refusal = refusals.get((letter.record as CanonicalEvent).id);
          result.failed.push({
            letter,
            code: refusal?.code ?? outcome.kind,
            message: refusal?.message ?? `not sent (${outcome.kind})`,
          });
        }
      }
      if (!options.dryRun && result.delivered.length > 0)
        await sink.markReplayed?.(
          result.delivered.map((letter) => ({ letter, events: [(letter.record as CanonicalEvent).id] })),
        );
    } finally {
      await dispatcher.close();
      await sink.close();
    }
  }
  return results;
}

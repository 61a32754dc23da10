// The documents `ferry serve` publishes about its pipelines: the AsyncAPI description of the events they
// write, and the Prometheus metrics of every run.
import { asyncApiDocument } from '@ferry/contracts';
import { pipelineChannels } from '../commands/contracts.js';
import type { HostedPipelines } from './hosted.js';

export class PipelineDocuments {
  constructor(private readonly pipelines: HostedPipelines) {}

  async asyncapi(): Promise<Record<string, unknown>> {
    const described = this.pipelines.all().filter((p) => p.contract.repository !== undefined);
    if (described.length === 0) {
      // Still a valid document, saying why it is empty.
      return {
        asyncapi: '3.0.0',
        info: {
          title: 'Ferry canonical events',
          version: '1.0.0',
          description:
            'No hosted pipeline names a contract repository (contract.repository), so no event is described.',
        },
        channels: {},
        operations: {},
      };
    }
    const { repo, entries } = await pipelineChannels(described);
    return asyncApiDocument(repo, entries, {
      title: 'Ferry canonical events',
      version: '1.0.0',
      description: `Events published by ${described.map((p) => p.name).join(', ')}.`,
    });
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    const { metrics } = this.pipelines.options;
    return { contentType: metrics.contentType, body: await metrics.text() };
  }
}

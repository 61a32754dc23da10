// `ferry dlq list|replay`: dead letters of a pipeline (filled in with the Kafka dead-letter topic work).
import type { Command } from 'commander';
import type { CommandContext } from './context.js';

export function registerDlqCommands(_program: Command, _ctx: CommandContext): void {}

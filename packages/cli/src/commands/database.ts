// `ferry database …`: database-connector commands (install-triggers, slots) (filled in with issue 4).
import type { Command } from 'commander';
import type { CommandContext } from './context.js';

export function registerDatabaseCommands(_program: Command, _ctx: CommandContext): void {}

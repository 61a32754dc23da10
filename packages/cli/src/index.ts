export { type CliIo, main } from './program.js';
export { defaultRegistry } from './registry.js';

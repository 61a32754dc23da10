export { HEAP_GROWING_PERCENT, limitHeapGrowth } from './heap.js';
export { type CliIo, main } from './program.js';
export { defaultRegistry } from './registry.js';

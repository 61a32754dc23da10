// Runtime validation of canonical objects against their contract (ajv, JSON Schema 2020-12). Each schema
// is compiled once; an event whose data does not validate never reaches the sink: the runtime sends it
// to the dead-letter sink with every error's path and message.
import type { CanonicalEvent, EventValidator } from '@ferry/core';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { type ContractRepository, findVersion } from './repository.js';

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

export interface ContractViolation {
  /** JSON Pointer into the event data, `/name/family`; empty for the root. */
  path: string;
  message: string;
  keyword: string;
}

/** One ajv instance per repository, with every schema added so `$ref`s between contracts resolve. */
export class ContractValidators {
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(private readonly repo: ContractRepository) {
    this.ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true });
    addFormats(this.ajv);
    for (const schema of repo.schemas.values()) this.ajv.addSchema(schema);
  }

  /** The compiled validator for a type and version (compiled on first use, then reused). */
  validatorFor(type: string, version: string): ValidateFunction {
    const contract = findVersion(this.repo, type, version);
    let fn = this.compiled.get(contract.id);
    if (!fn) {
      fn = this.ajv.getSchema(contract.id)!;
      this.compiled.set(contract.id, fn);
    }
    return fn;
  }

  validate(type: string, version: string, data: unknown): ContractViolation[] {
    const fn = this.validatorFor(type, version);
    return fn(data) ? [] : violations(fn.errors ?? []);
  }
}

export function violations(errors: ErrorObject[]): ContractViolation[] {
  return errors.map((e) => ({
    path: e.instancePath,
    message:
      e.keyword === 'additionalProperties'
        ? `${e.message} '${String(e.params.additionalProperty)}'`
        : (e.message ?? 'invalid'),
    keyword: e.keyword,
  }));
}

/** The runtime's contract check for one canonical type and version (see core's EventValidator). */
export function createContractValidator(
  repo: ContractRepository,
  type: string,
  version: string,
): EventValidator {
  const validators = new ContractValidators(repo);
  const fn = validators.validatorFor(type, version);
  const id = findVersion(repo, type, version).id;
  return (event: CanonicalEvent) => {
    if (fn(event.data)) return undefined;
    const errors = violations(fn.errors ?? []);
    const summary = errors
      .slice(0, 5)
      .map((e) => `${e.path || '/'}: ${e.message}`)
      .join('; ');
    return {
      code: 'CONTRACT_VIOLATION',
      message: `data does not match ${id}: ${summary}${errors.length > 5 ? ` (+${errors.length - 5} more)` : ''}`,
      errors,
    };
  };
}

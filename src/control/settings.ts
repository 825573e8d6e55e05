// Function-wide settings beside the code: tags (TagResource, UntagResource,
// ListTags) and reserved concurrency (Put/Get/DeleteFunctionConcurrency).
import { functionNotFound, invalidParameterValue } from '../errors.js';
import * as limits from '../limits.js';
import type { StateStore } from '../store/state.js';
import { functionArn, parseFunctionRef } from './arn.js';
import type { ControlPlane } from './functions.js';
import type { FunctionRecord } from './model.js';
import * as S from './shapes.js';
import { checkInt, checkString, checkStringMap, Problems } from './validate.js';
import { sandboxTagsProblem } from '../sandbox/function-tags.js';

const TAGGABLE_ARN = {
  pattern: /^arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?$/,
  patternText: 'arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:(function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})',
  min: 1,
  max: 256,
};

/** Provisioned concurrency as reserved concurrency must respect it (control/provisioned.ts). */
export interface ProvisionedCounts {
  provisionedOutsideReservations(exceptFunction?: string): Promise<number>;
  provisionedOf(functionName: string): number;
}

export class FunctionSettings {
  private provisioned: ProvisionedCounts | undefined;

  constructor(
    private readonly control: ControlPlane,
    private readonly state: StateStore,
  ) {}

  useProvisioned(p: ProvisionedCounts): void {
    this.provisioned = p;
  }

  // --- tags ---

  private async taggable(resource: string): Promise<FunctionRecord> {
    const p = new Problems();
    checkString(p, resource, 'resource', TAGGABLE_ARN);
    p.throwIfAny();
    const ref = parseFunctionRef(resource);
    if (!ref) throw invalidParameterValue(`Invalid resource ARN: ${resource}`);
    if (ref.qualifier !== undefined) {
      throw invalidParameterValue('Tags on function aliases and versions are not supported. Please specify a function ARN.');
    }
    const fn = await this.state.getFunction(ref.name);
    if (!fn || ref.region !== this.control.account.region || ref.accountId !== this.control.account.accountId) {
      throw functionNotFound(functionArn(this.control.account, ref.name));
    }
    return fn;
  }

  async listTags(resource: string): Promise<Record<string, string>> {
    return (await this.taggable(resource)).tags;
  }

  async tag(resource: string, body: Record<string, unknown>): Promise<void> {
    const p = new Problems();
    const tags = checkStringMap(body.Tags, 'tags');
    if (!tags) p.add(undefined, 'tags', 'Member must not be null');
    p.throwIfAny();
    if (Object.keys(tags!).length === 0) throw invalidParameterValue('An error occurred and the request cannot be processed.');
    checkTags(tags!);
    const fn = await this.taggable(resource);
    const merged = { ...fn.tags, ...tags };
    if (Object.keys(merged).length > limits.TAGS_MAX) throw invalidParameterValue('Number of tags exceeds resource tag limit.');
    await this.state.putFunction({ ...fn, tags: merged });
    await this.control.touchLatest(fn.functionName);
  }

  async untag(resource: string, keys: string[]): Promise<void> {
    if (keys.length === 0) {
      const p = new Problems();
      p.add(undefined, 'tagKeys', 'Member must not be null');
      p.throwIfAny();
    }
    const fn = await this.taggable(resource);
    const tags = { ...fn.tags };
    for (const k of keys) delete tags[k];
    await this.state.putFunction({ ...fn, tags });
    await this.control.touchLatest(fn.functionName);
  }

  // --- reserved concurrency ---

  async getConcurrency(rawName: string): Promise<number | undefined> {
    const ref = this.control.resolveRef(rawName, undefined, S.FUNCTION_NAME_UNQUALIFIED);
    return (await this.control.getFunctionRecord(ref)).reservedConcurrency;
  }

  async putConcurrency(rawName: string, body: Record<string, unknown>, accountLimit: number): Promise<number> {
    const ref = this.control.resolveRef(rawName, undefined, S.FUNCTION_NAME_CREATE);
    if (ref.qualifier !== undefined) {
      throw invalidParameterValue(
        'This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.',
      );
    }
    if (!(await this.control.functionExists(ref.name))) throw functionNotFound(functionArn(this.control.account, ref.name, '$LATEST'));
    const p = new Problems();
    const n = checkInt(p, body.ReservedConcurrentExecutions, 'reservedConcurrentExecutions', { min: 0, required: true });
    p.throwIfAny();
    const fn = await this.control.getFunctionRecord(ref);
    const reservedElsewhere = (await this.reservations()).filter((r) => r.functionName !== fn.functionName).reduce((sum, r) => sum + r.reserved, 0);
    const provisionedElsewhere = (await this.provisioned?.provisionedOutsideReservations(fn.functionName)) ?? 0;
    if (accountLimit - reservedElsewhere - provisionedElsewhere - n! < limits.UNRESERVED_CONCURRENCY_MIN) {
      throw invalidParameterValue(
        `Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [${limits.UNRESERVED_CONCURRENCY_MIN}].`,
      );
    }
    const provisionedHere = this.provisioned?.provisionedOf(fn.functionName) ?? 0;
    if (provisionedHere > n!) {
      // Wording from LocalStack's provider (no AWS recording found), spaces included.
      throw invalidParameterValue(` ReservedConcurrentExecutions  ${n!} should not be lower than function's total provisioned concurrency [${provisionedHere}].`);
    }
    await this.state.putFunction({ ...fn, reservedConcurrency: n! });
    this.control.emit('change', { kind: 'configured', functionName: fn.functionName, version: '' });
    return n!;
  }

  async deleteConcurrency(rawName: string): Promise<void> {
    const ref = this.control.resolveRef(rawName, undefined, S.FUNCTION_NAME_UNQUALIFIED);
    const fn = await this.control.getFunctionRecord(ref);
    const { reservedConcurrency: _dropped, ...rest } = fn;
    await this.state.putFunction(rest);
    this.control.emit('change', { kind: 'configured', functionName: fn.functionName, version: '' });
  }

  /** Every function's reservation. */
  async reservations(): Promise<{ functionName: string; reserved: number }[]> {
    return this.state.listReservations();
  }
}

function checkTags(tags: Record<string, string>): void {
  for (const [k, v] of Object.entries(tags)) {
    if (k.length < 1 || k.length > 128 || v.length > 256) {
      throw invalidParameterValue('Tag keys must be 1-128 characters and values at most 256 characters.');
    }
    if (k.toLowerCase().startsWith('aws:')) throw invalidParameterValue('Tag keys cannot start with the reserved prefix aws:.');
  }
  const sandbox = sandboxTagsProblem(tags);
  if (sandbox !== undefined) throw invalidParameterValue(sandbox);
}

// Resource-based policies: AddPermission, RemovePermission, GetPolicy, kept
// per qualifier with Lambda's statement shapes.
import { randomUUID } from 'node:crypto';
import { functionNotFound, invalidParameterValue, preconditionFailed, resourceConflict, resourceNotFound } from '../errors.js';
import type { StateStore } from '../store/state.js';
import { isAliasName } from './aliases.js';
import { functionArn } from './arn.js';
import type { ControlPlane } from './functions.js';
import type { FunctionRecord } from './model.js';
import { LATEST } from './model.js';
import { checkString, Problems } from './validate.js';

export interface PolicyDocument {
  revisionId: string;
  statements: Record<string, unknown>[];
}

const STATEMENT_ID = { pattern: /^([a-zA-Z0-9-_]+)$/, patternText: '([a-zA-Z0-9-_]+)', min: 1, max: 100 };
const ACTION = { pattern: /^(lambda:[*]|lambda:[a-zA-Z]+|[*])$/, patternText: '(lambda:[*]|lambda:[a-zA-Z]+|[*])', required: true };
const SOURCE_ACCOUNT = { pattern: /^\d{12}$/, patternText: '\\d{12}' };
const ORG_ID = { pattern: /^o-[a-z0-9]{10,32}$/, patternText: 'o-[a-z0-9]{10,32}', min: 12, max: 34 };

const stalePolicy = () =>
  preconditionFailed('The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id');

export class Policies {
  /** One change at a time per function: a policy is read, changed and written whole. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly control: ControlPlane,
    private readonly state: StateStore,
  ) {}

  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.queues.set(name, next.catch(() => undefined));
    return next;
  }

  /** The function and the policy key its qualifier names; checks the version or alias exists. */
  private async target(rawName: string, qualifier: string | undefined, missing: (arn: string) => Error) {
    const ref = this.control.resolveRef(rawName, qualifier);
    const fn = await this.state.getFunction(ref.name);
    if (!fn) throw missing(functionArn(this.control.account, ref.name));
    const q = ref.qualifier;
    if (q !== undefined && q !== LATEST) {
      if (isAliasName(q)) {
        if (!(await this.state.getAlias(ref.name, q))) throw resourceNotFound(`Cannot find alias arn: ${functionArn(this.control.account, ref.name, q)}`);
      } else if (!(await this.state.getVersion(ref.name, q))) {
        throw functionNotFound(functionArn(this.control.account, ref.name, q));
      }
    }
    return { fn, key: q ?? '', resource: functionArn(this.control.account, ref.name, q === LATEST ? undefined : q) };
  }

  async add(rawName: string, qualifier: string | undefined, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const p = new Problems();
    const sid = checkString(p, body.StatementId, 'statementId', { ...STATEMENT_ID, required: true });
    const action = checkString(p, body.Action, 'action', ACTION);
    const principal = checkString(p, body.Principal, 'principal', { required: true, pattern: /^[^\s]+$/, patternText: '[^\\s]+' });
    const sourceArn = checkString(p, body.SourceArn, 'sourceArn', { pattern: /^arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9-])+:([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)$/, patternText: 'arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)' });
    const sourceAccount = checkString(p, body.SourceAccount, 'sourceAccount', SOURCE_ACCOUNT);
    const orgId = checkString(p, body.PrincipalOrgID, 'principalOrgID', ORG_ID);
    const eventSourceToken = checkString(p, body.EventSourceToken, 'eventSourceToken', { max: 256 });
    const urlAuthType = checkString(p, body.FunctionUrlAuthType, 'functionUrlAuthType', { enumValues: ['NONE', 'AWS_IAM'] });
    const revisionId = checkString(p, body.RevisionId, 'revisionId', {});
    p.throwIfAny();
    if (qualifier === LATEST) throw invalidParameterValue('We currently do not support adding policies for $LATEST.');
    const { fn, key, resource } = await this.target(rawName, qualifier, (arn) => functionNotFound(arn));
    if (key === LATEST) throw invalidParameterValue('We currently do not support adding policies for $LATEST.');
    return this.serial(fn.functionName, async () => {
      const current = (await this.state.getFunction(fn.functionName)) ?? fn;
      const doc = current.policies?.[key];
      if (revisionId !== undefined && revisionId !== doc?.revisionId) throw stalePolicy();
      if (doc?.statements.some((s) => s.Sid === sid)) {
        throw resourceConflict(`The statement id (${sid}) provided already exists. Please provide a new statement id, or remove the existing statement.`);
      }
      const statement: Record<string, unknown> = { Sid: sid, Effect: 'Allow', Principal: principalOf(principal!), Action: action, Resource: resource };
      const equals: Record<string, string> = {};
      if (sourceAccount) equals['AWS:SourceAccount'] = sourceAccount;
      if (eventSourceToken) equals['lambda:EventSourceToken'] = eventSourceToken;
      if (urlAuthType) equals['lambda:FunctionUrlAuthType'] = urlAuthType;
      if (orgId) equals['aws:PrincipalOrgID'] = orgId;
      const condition: Record<string, unknown> = {};
      if (Object.keys(equals).length > 0) condition.StringEquals = equals;
      if (sourceArn) condition.ArnLike = { 'AWS:SourceArn': sourceArn };
      if (Object.keys(condition).length > 0) statement.Condition = condition;
      await this.write(current, key, { revisionId: randomUUID(), statements: [...(doc?.statements ?? []), statement] });
      return statement;
    });
  }

  async remove(rawName: string, qualifier: string | undefined, sid: string, revisionId: string | undefined): Promise<void> {
    const p = new Problems();
    checkString(p, sid, 'statementId', { pattern: /^([a-zA-Z0-9-_.]+)$/, patternText: '([a-zA-Z0-9-_.]+)', min: 1, max: 100 });
    p.throwIfAny();
    const { fn, key } = await this.target(rawName, qualifier, (arn) => resourceNotFound(`No policy found for: ${arn}`));
    await this.serial(fn.functionName, async () => {
      const current = (await this.state.getFunction(fn.functionName)) ?? fn;
      const doc = current.policies?.[key];
      if (!doc || doc.statements.length === 0) throw resourceNotFound('No policy is associated with the given resource.');
      if (!doc.statements.some((s) => s.Sid === sid)) throw resourceNotFound(`Statement ${sid} is not found in resource policy.`);
      if (revisionId !== undefined && revisionId !== doc.revisionId) {
        throw preconditionFailed('The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id');
      }
      await this.write(current, key, { revisionId: randomUUID(), statements: doc.statements.filter((s) => s.Sid !== sid) });
    });
  }

  async get(rawName: string, qualifier: string | undefined): Promise<{ policy: string; revisionId: string }> {
    const notThere = () => resourceNotFound('The resource you requested does not exist.');
    const { fn, key } = await this.target(rawName, qualifier, notThere).catch((e: unknown) => {
      throw (e as { type?: string }).type === 'ResourceNotFoundException' ? notThere() : e;
    });
    const doc = fn.policies?.[key];
    if (!doc || doc.statements.length === 0) throw notThere();
    return { policy: JSON.stringify({ Version: '2012-10-17', Id: 'default', Statement: doc.statements }), revisionId: doc.revisionId };
  }

  private async write(fn: FunctionRecord, key: string, doc: PolicyDocument): Promise<void> {
    const policies = { ...(fn.policies ?? {}) };
    if (doc.statements.length === 0) delete policies[key];
    else policies[key] = doc;
    await this.state.putFunction({ ...fn, policies });
  }
}

/** Lambda's rendering of a principal: a service, an account, an ARN, or anyone. */
function principalOf(principal: string): unknown {
  if (principal === '*') return '*';
  if (/^\d{12}$/.test(principal)) return { AWS: `arn:aws:iam::${principal}:root` };
  if (/^arn:aws[a-zA-Z-]*:iam::\d{12}:/.test(principal)) return { AWS: principal };
  if (/^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$/.test(principal)) return { Service: principal };
  throw invalidParameterValue('The provided principal was invalid. Please check the principal and try again.');
}


// A function's asynchronous invocation settings (Lambda's EventInvokeConfig):
// retries, maximum event age, and where a finished event's record goes. One
// config per qualifier ($LATEST, a version, an alias). Validation and
// messages follow Lambda's (as recorded against AWS in LocalStack's snapshots).
import type { Account, FunctionRef } from '../control/arn.js';
import { functionArn, parseFunctionRef } from '../control/arn.js';
import type { ControlPlane } from '../control/functions.js';
import { LATEST } from '../control/model.js';
import { checkInt, checkObject, checkString, Problems } from '../control/validate.js';
import { invalidParameterValue, resourceNotFound } from '../errors.js';
import {
  MAXIMUM_EVENT_AGE_MAX_SECONDS,
  MAXIMUM_EVENT_AGE_MIN_SECONDS,
  MAXIMUM_RETRY_ATTEMPTS_MAX,
  MAXIMUM_RETRY_ATTEMPTS_MIN,
} from './retry.js';

export interface EventInvokeConfig {
  functionName: string;
  /** `$LATEST`, a version number or an alias name. */
  qualifier: string;
  maximumRetryAttempts?: number;
  maximumEventAgeInSeconds?: number;
  /** Destination ARNs (Lambda functions in Kindling). */
  onSuccess?: string;
  onFailure?: string;
  /** ms since the epoch. */
  lastModified: number;
}

/** Where configs are kept: the state store's database (SQLite embedded, PostgreSQL in a cluster). */
export interface EventConfigStore {
  get(functionName: string, qualifier: string): Promise<EventInvokeConfig | undefined>;
  /** Creates or replaces; false when the function does not exist (any more). */
  put(config: EventInvokeConfig): Promise<boolean>;
  delete(functionName: string, qualifier: string): Promise<boolean>;
  /** Ordered by qualifier ($LATEST first), after `after`. */
  list(functionName: string, opts: { after?: string; limit: number }): Promise<EventInvokeConfig[]>;
  close(): Promise<void>;
}

/** Lambda's pattern for DestinationConfig.*.Destination, as its validator prints it. */
const DESTINATION_PATTERN_TEXT =
  '$|kafka://([^.]([a-zA-Z0-9\\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)';
const DESTINATION_PATTERN = new RegExp(`^(?:${DESTINATION_PATTERN_TEXT})$`);
const DESTINATION_MAX = 350;
const LIST_MAX_ITEMS = 50;
/** Services Lambda delivers records to and Kindling does not (it has no SQS, SNS, EventBridge, S3). */
const OTHER_DESTINATION_SERVICES = new Set(['sqs', 'sns', 'events', 's3']);

type Json = Record<string, unknown>;

interface Settings {
  maximumRetryAttempts?: number | undefined;
  maximumEventAgeInSeconds?: number | undefined;
  /** Present when DestinationConfig was sent; each member present when that member was sent. */
  destinations?: { onSuccess?: string | undefined; onFailure?: string | undefined; hasSuccess: boolean; hasFailure: boolean } | undefined;
}

const doesNotExist = () => resourceNotFound("The function doesn't exist.");

export class EventConfigService {
  private readonly acct: Account;

  constructor(
    private readonly control: ControlPlane,
    private readonly store: EventConfigStore,
  ) {
    this.acct = control.account;
  }

  private noConfig(name: string, qualifier: string) {
    return resourceNotFound(`The function ${functionArn(this.acct, name, qualifier)} doesn't have an EventInvokeConfig`);
  }

  /** The config an invoke of `name:qualifier` runs with (none: Lambda's defaults, no destinations). */
  forInvoke(name: string, qualifier: string | undefined): Promise<EventInvokeConfig | undefined> {
    return this.store.get(name, qualifier ?? LATEST);
  }

  render(c: EventInvokeConfig): Json {
    const out: Json = {
      FunctionArn: functionArn(this.acct, c.functionName, c.qualifier),
      LastModified: c.lastModified / 1000,
    };
    if (c.maximumRetryAttempts !== undefined) out.MaximumRetryAttempts = c.maximumRetryAttempts;
    if (c.maximumEventAgeInSeconds !== undefined) out.MaximumEventAgeInSeconds = c.maximumEventAgeInSeconds;
    out.DestinationConfig = {
      OnSuccess: c.onSuccess ? { Destination: c.onSuccess } : {},
      OnFailure: c.onFailure ? { Destination: c.onFailure } : {},
    };
    return out;
  }

  /** PutFunctionEventInvokeConfig: replaces the whole config. */
  async put(rawName: string, qualifierParam: string | undefined, body: Json): Promise<Json> {
    const ref = this.control.resolveRef(rawName, qualifierParam);
    const settings = this.checkSettings(body);
    const qualifier = await this.requireTarget(ref);
    await this.checkDestinations(ref.name, settings);
    const config: EventInvokeConfig = {
      functionName: ref.name,
      qualifier,
      lastModified: Date.now(),
      ...(settings.maximumRetryAttempts !== undefined ? { maximumRetryAttempts: settings.maximumRetryAttempts } : {}),
      ...(settings.maximumEventAgeInSeconds !== undefined ? { maximumEventAgeInSeconds: settings.maximumEventAgeInSeconds } : {}),
      ...(settings.destinations?.onSuccess ? { onSuccess: settings.destinations.onSuccess } : {}),
      ...(settings.destinations?.onFailure ? { onFailure: settings.destinations.onFailure } : {}),
    };
    if (!(await this.store.put(config))) throw doesNotExist();
    return this.render(config);
  }

  /** UpdateFunctionEventInvokeConfig: changes only what is sent. */
  async update(rawName: string, qualifierParam: string | undefined, body: Json): Promise<Json> {
    const ref = this.control.resolveRef(rawName, qualifierParam);
    const settings = this.checkSettings(body);
    const qualifier = await this.requireTarget(ref);
    const current = await this.store.get(ref.name, qualifier);
    if (!current) throw this.noConfig(ref.name, qualifier);
    await this.checkDestinations(ref.name, settings);
    const next: EventInvokeConfig = { ...current, lastModified: Date.now() };
    if (settings.maximumRetryAttempts !== undefined) next.maximumRetryAttempts = settings.maximumRetryAttempts;
    if (settings.maximumEventAgeInSeconds !== undefined) next.maximumEventAgeInSeconds = settings.maximumEventAgeInSeconds;
    const d = settings.destinations;
    if (d?.hasSuccess) {
      if (d.onSuccess) next.onSuccess = d.onSuccess;
      else delete next.onSuccess;
    }
    if (d?.hasFailure) {
      if (d.onFailure) next.onFailure = d.onFailure;
      else delete next.onFailure;
    }
    if (!(await this.store.put(next))) throw doesNotExist();
    return this.render(next);
  }

  async get(rawName: string, qualifierParam: string | undefined): Promise<Json> {
    const ref = this.control.resolveRef(rawName, qualifierParam);
    const qualifier = ref.qualifier ?? LATEST;
    const c = await this.store.get(ref.name, qualifier);
    if (!c) throw this.noConfig(ref.name, qualifier);
    return this.render(c);
  }

  async delete(rawName: string, qualifierParam: string | undefined): Promise<void> {
    const ref = this.control.resolveRef(rawName, qualifierParam);
    const qualifier = ref.qualifier ?? LATEST;
    if (!(await this.store.delete(ref.name, qualifier))) throw this.noConfig(ref.name, qualifier);
  }

  async list(rawName: string, marker: string | undefined, maxItemsRaw: string | undefined): Promise<Json> {
    const ref = this.control.resolveRef(rawName, undefined);
    let maxItems = LIST_MAX_ITEMS;
    if (maxItemsRaw !== undefined) {
      if (!/^-?\d+$/.test(maxItemsRaw)) throw invalidParameterValue(`Invalid value for MaxItems: ${maxItemsRaw}`);
      const p = new Problems();
      maxItems = checkInt(p, Number(maxItemsRaw), 'maxItems', { min: 1, max: LIST_MAX_ITEMS })!;
      p.throwIfAny();
    }
    if (!(await this.control.functionExists(ref.name))) throw doesNotExist();
    let after: string | undefined;
    if (marker !== undefined && marker !== '') {
      after = Buffer.from(marker, 'base64url').toString('utf8');
      if (after === '' || Buffer.from(after).toString('base64url') !== marker) throw invalidParameterValue(`Invalid marker: ${marker}`);
    }
    const page = await this.store.list(ref.name, { ...(after !== undefined ? { after } : {}), limit: maxItems + 1 });
    const items = page.slice(0, maxItems);
    const out: Json = { FunctionEventInvokeConfigs: items.map((c) => this.render(c)) };
    const last = items[items.length - 1];
    if (page.length > maxItems && last) out.NextMarker = Buffer.from(last.qualifier).toString('base64url');
    return out;
  }

  /** The function (and qualifier) a Put/Update names must exist; returns the qualifier the config is kept under. */
  private async requireTarget(ref: FunctionRef): Promise<string> {
    const qualifier = ref.qualifier ?? LATEST;
    try {
      await this.control.getVersion({ name: ref.name, qualifier });
    } catch {
      throw doesNotExist();
    }
    return qualifier;
  }

  private checkSettings(body: Json): Settings {
    const p = new Problems();
    const maximumRetryAttempts = checkInt(p, body.MaximumRetryAttempts, 'maximumRetryAttempts', {
      min: MAXIMUM_RETRY_ATTEMPTS_MIN,
      max: MAXIMUM_RETRY_ATTEMPTS_MAX,
    });
    const maximumEventAgeInSeconds = checkInt(p, body.MaximumEventAgeInSeconds, 'maximumEventAgeInSeconds', {
      min: MAXIMUM_EVENT_AGE_MIN_SECONDS,
      max: MAXIMUM_EVENT_AGE_MAX_SECONDS,
    });
    const dc = checkObject(body.DestinationConfig, 'destinationConfig');
    let destinations: Settings['destinations'];
    if (dc) {
      const member = (key: 'OnSuccess' | 'OnFailure', field: string): { present: boolean; arn: string | undefined } => {
        const m = checkObject(dc[key], `destinationConfig.${field}`);
        if (!m) return { present: dc[key] !== undefined && dc[key] !== null, arn: undefined };
        const arn = checkString(p, m.Destination, `destinationConfig.${field}.destination`, {
          max: DESTINATION_MAX,
          pattern: DESTINATION_PATTERN,
          patternText: DESTINATION_PATTERN_TEXT,
        });
        return { present: true, arn: arn === '' ? undefined : arn };
      };
      const s = member('OnSuccess', 'onSuccess');
      const f = member('OnFailure', 'onFailure');
      destinations = { onSuccess: s.arn, onFailure: f.arn, hasSuccess: s.present, hasFailure: f.present };
    }
    p.throwIfAny();
    if (maximumRetryAttempts === undefined && maximumEventAgeInSeconds === undefined && dc === undefined) {
      throw invalidParameterValue('You must specify at least one of error handling or destination setting.');
    }
    return { maximumRetryAttempts, maximumEventAgeInSeconds, destinations };
  }

  private async checkDestinations(functionName: string, settings: Settings): Promise<void> {
    const d = settings.destinations;
    if (!d) return;
    let invalid = false;
    for (const arn of [d.onFailure, d.onSuccess]) {
      if (arn === undefined) continue;
      if (!(await this.checkDestination(functionName, arn))) invalid = true;
    }
    if (invalid) {
      const part = (name: string, arn: string | undefined) => (arn ? `${name}(destination=${arn})` : 'null');
      throw invalidParameterValue(
        `The provided destination config DestinationConfig(onSuccess=${part('OnSuccess', d.onSuccess)}, onFailure=${part('OnFailure', d.onFailure)}) is invalid.`,
      );
    }
  }

  /** False for an ARN of a service no destination can be; throws for Lambda's specific refusals. */
  private async checkDestination(functionName: string, arn: string): Promise<boolean> {
    if (arn.startsWith('kafka://')) {
      throw invalidParameterValue(`Kindling delivers invocation records to Lambda functions only, not to Kafka: ${arn}`);
    }
    const service = arn.split(':')[2] ?? '';
    if (service === 'lambda') {
      const ref = /:function:/.test(arn) ? parseFunctionRef(arn) : undefined;
      const ours = ref !== undefined && ref.region === this.acct.region && ref.accountId === this.acct.accountId;
      if (!ref || !ours || !(await this.control.functionExists(ref.name))) {
        throw invalidParameterValue(`The destination ARN ${arn} is invalid.`);
      }
      if (ref.name === functionName) throw invalidParameterValue("You can't specify the function as a destination for itself.");
      return true;
    }
    if (OTHER_DESTINATION_SERVICES.has(service)) {
      throw invalidParameterValue(
        `Kindling delivers invocation records to Lambda functions only: ${arn} is not a Lambda function ARN (Kindling has no ${service.toUpperCase()}).`,
      );
    }
    return false;
  }
}

/** A destination ARN as the function reference to enqueue its record to. */
export function destinationRef(arn: string): FunctionRef | undefined {
  return parseFunctionRef(arn);
}

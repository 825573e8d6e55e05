// Function identity: names, qualifiers and ARNs in every form Lambda accepts.
import { LATEST } from './model.js';

export interface Account {
  region: string;
  accountId: string;
}

export const functionArn = (acct: Account, name: string, qualifier?: string): string =>
  `arn:aws:lambda:${acct.region}:${acct.accountId}:function:${name}${qualifier ? `:${qualifier}` : ''}`;

/** The ARN Lambda shows for a version: unqualified for $LATEST, qualified otherwise. */
export const versionArn = (acct: Account, name: string, version: string): string =>
  version === LATEST ? functionArn(acct, name) : functionArn(acct, name, version);

export interface FunctionRef {
  name: string;
  /** A version number, `$LATEST` or an alias name; undefined when none was given. */
  qualifier?: string;
  /** Region and account named by an ARN form, when one was used. */
  region?: string;
  accountId?: string;
}

// name | name:qualifier | account:function:name[:qualifier] | arn:aws:lambda:region:account:function:name[:qualifier]
const REF =
  /^(?:arn:(?:aws[a-zA-Z-]*)?:lambda:((?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):(\d{12}):function:|(\d{12}):function:)?([a-zA-Z0-9_.-]+)(?::(\$LATEST|[a-zA-Z0-9_-]+))?$/;

/** Parses a FunctionName that already passed the pattern check; undefined when it has no recognisable shape. */
export function parseFunctionRef(raw: string): FunctionRef | undefined {
  const m = REF.exec(raw);
  if (!m) return undefined;
  const ref: FunctionRef = { name: m[4]! };
  if (m[5] !== undefined) ref.qualifier = m[5];
  if (m[1] !== undefined) ref.region = m[1];
  const account = m[2] ?? m[3];
  if (account !== undefined) ref.accountId = account;
  return ref;
}

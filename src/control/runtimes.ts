// The runtimes Kindling runs, and how Lambda answers for the ones it doesn't.
import { invalidParameterValue } from '../errors.js';

export type RuntimeFamily = 'nodejs' | 'python' | 'provided';

export interface RuntimeInfo {
  id: string;
  family: RuntimeFamily;
}

const SUPPORTED: readonly RuntimeInfo[] = [
  { id: 'nodejs18.x', family: 'nodejs' },
  { id: 'nodejs20.x', family: 'nodejs' },
  { id: 'nodejs22.x', family: 'nodejs' },
  { id: 'python3.9', family: 'python' },
  { id: 'python3.10', family: 'python' },
  { id: 'python3.11', family: 'python' },
  { id: 'python3.12', family: 'python' },
  { id: 'python3.13', family: 'python' },
  { id: 'provided', family: 'provided' },
  { id: 'provided.al2', family: 'provided' },
  { id: 'provided.al2023', family: 'provided' },
];

/** Runtimes Lambda retired: creating or updating a function with them is refused. */
const DEPRECATED: readonly string[] = [
  'nodejs', 'nodejs4.3', 'nodejs4.3-edge', 'nodejs6.10', 'nodejs8.10', 'nodejs10.x', 'nodejs12.x', 'nodejs14.x',
  'nodejs16.x', 'python2.7', 'python3.6', 'python3.7', 'python3.8', 'dotnetcore1.0', 'dotnetcore2.0',
  'dotnetcore2.1', 'dotnetcore3.1', 'dotnet6', 'java8', 'ruby2.5', 'ruby2.7', 'go1.x',
];

export const runtimeInfo = (id: string): RuntimeInfo | undefined => SUPPORTED.find((r) => r.id === id);

export const supportedRuntimeIds = (): string[] => SUPPORTED.map((r) => r.id);

/** Throws Lambda's InvalidParameterValueException for a runtime Kindling will not run. */
export function requireSupportedRuntime(id: string): RuntimeInfo {
  const info = runtimeInfo(id);
  if (info) return info;
  if (DEPRECATED.includes(id)) {
    throw invalidParameterValue(
      `The runtime parameter of ${id} is no longer supported for creating or updating AWS Lambda functions. ` +
        `We recommend you use a supported runtime while creating or updating functions.`,
    );
  }
  // Lambda's own wording, with the set Kindling can run.
  throw invalidParameterValue(
    `Value ${id} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [${supportedRuntimeIds().join(', ')}] or be a valid ARN`,
  );
}

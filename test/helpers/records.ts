// A function version record as the control plane stores it, for tests that
// drive stores, worker hosts and placement below the API.
import { randomUUID } from 'node:crypto';
import type { FunctionVersion } from '../../src/control/model.js';

export function functionVersion(functionName: string, extra: Partial<FunctionVersion> = {}): FunctionVersion {
  return {
    functionName,
    version: '$LATEST',
    description: '',
    runtime: 'nodejs20.x',
    role: 'arn:aws:iam::000000000000:role/test',
    handler: 'index.handler',
    timeout: 3,
    memorySize: 128,
    ephemeralStorageMb: 512,
    architectures: ['x86_64'],
    tracingMode: 'PassThrough',
    logging: { logFormat: 'Text', logGroup: `/aws/lambda/${functionName}` },
    codeSha256: Buffer.alloc(32, 7).toString('base64'),
    codeSize: 100,
    packageType: 'Zip',
    layers: [],
    lastModified: '2024-01-31T12:00:00.000+0000',
    revisionId: randomUUID(),
    state: 'Active',
    lastUpdateStatus: 'Successful',
    ...extra,
  };
}

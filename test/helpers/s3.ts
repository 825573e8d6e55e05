// A real S3-protocol server for the code-store tests: s3rver (S3's REST API
// over a local folder) on a loopback port, with the bucket made.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/** s3rver's fixed credentials; the SDK signs with them. */
export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface RunningS3 {
  endpoint: string;
  bucket: string;
  dir: string;
  /** The --code URL for Kindling. */
  codeUrl(prefix?: string): string;
  close(): Promise<void>;
}

/** `host`: the address to listen on (another one than loopback, for processes in other network namespaces). */
export async function startS3(bucket = 'kindling-code', host = '127.0.0.1'): Promise<RunningS3> {
  const dir = await mkdtemp(join(tmpdir(), 'kindling-s3-'));
  const server = new S3rver({ address: host, port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  const endpoint = `http://${host}:${port}`;
  return {
    endpoint,
    bucket,
    dir,
    codeUrl: (prefix = '') => `s3://${bucket}${prefix ? `/${prefix}` : ''}?endpoint=${encodeURIComponent(endpoint)}`,
    close: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// The cluster code store: packages in any S3-compatible bucket, keyed by their
// SHA-256 like the embedded folder (<prefix>/<2 hex>/<hex>.zip), so worker
// hosts on other machines fetch what a frontend stored.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { CodeStore, StoredCode } from './code.js';

const HEX = /^[0-9a-f]{64}$/;

/** Where packages go, read from `s3://bucket[/prefix][?endpoint=URL&region=R]`. */
export interface S3CodeLocation {
  bucket: string;
  prefix: string;
  endpoint?: string;
  region?: string;
}

export const isS3Url = (url: string): boolean => url.startsWith('s3://');

export function parseS3Url(url: string): S3CodeLocation {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`'${url}' is not an s3:// URL (s3://bucket[/prefix][?endpoint=URL&region=REGION])`);
  }
  if (u.protocol !== 's3:' || !u.hostname) throw new Error(`'${url}' is not an s3:// URL with a bucket (s3://bucket[/prefix])`);
  const prefix = decodeURIComponent(u.pathname).replace(/^\/+|\/+$/g, '');
  const endpoint = u.searchParams.get('endpoint') ?? undefined;
  const region = u.searchParams.get('region') ?? undefined;
  if (endpoint !== undefined && !/^https?:\/\//.test(endpoint)) throw new Error(`the S3 endpoint must be an http(s) URL, not '${endpoint}'`);
  return { bucket: u.hostname, prefix, ...(endpoint ? { endpoint } : {}), ...(region ? { region } : {}) };
}

const isNotFound = (err: unknown): boolean => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
};

export class S3CodeStore implements CodeStore {
  private readonly client: S3Client;

  constructor(
    private readonly location: S3CodeLocation,
    clientConfig: S3ClientConfig = {},
  ) {
    this.client = new S3Client({
      region: location.region ?? process.env.AWS_REGION ?? 'us-east-1',
      // S3-compatible servers (MinIO, Ceph, Garage) are addressed by path, not by bucket host name.
      ...(location.endpoint ? { endpoint: location.endpoint, forcePathStyle: true } : {}),
      ...clientConfig,
    });
  }

  private key(hex: string): string {
    if (!HEX.test(hex)) throw new Error(`not a SHA-256: ${hex}`);
    const name = `${hex.slice(0, 2)}/${hex}.zip`;
    return this.location.prefix ? `${this.location.prefix}/${name}` : name;
  }

  async put(zip: Buffer): Promise<StoredCode> {
    const digest = createHash('sha256').update(zip).digest();
    const hex = digest.toString('hex');
    const stored = { sha256Hex: hex, sha256Base64: digest.toString('base64'), size: zip.length };
    const Key = this.key(hex);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key }));
      if (head.ContentLength === zip.length) return stored;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    // One PUT is atomic in S3: a reader sees the whole package under its key or nothing.
    await this.client.send(
      new PutObjectCommand({ Bucket: this.location.bucket, Key, Body: zip, ContentLength: zip.length, ContentType: 'application/zip' }),
    );
    return stored;
  }

  async get(hex: string): Promise<Buffer | undefined> {
    const opened = await this.open(hex);
    if (!opened) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of opened.stream) chunks.push(chunk as Buffer);
    const zip = Buffer.concat(chunks);
    // A package is only as good as its key: refuse one that came back torn.
    if (createHash('sha256').update(zip).digest('hex') !== hex) throw new Error(`code package ${hex} read back from S3 does not match its SHA-256`);
    return zip;
  }

  async open(hex: string): Promise<{ stream: Readable; size: number } | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(hex) }));
      return { stream: out.Body as Readable, size: out.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async delete(hex: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.key(hex) }));
  }

  close(): void {
    this.client.destroy();
  }
}

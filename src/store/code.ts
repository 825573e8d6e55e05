// The code store: Kindling's S3. Packages are content-addressed by the SHA-256
// of the zip, so equal code is stored once and a key never changes meaning.
import type { Readable } from 'node:stream';

export interface StoredCode {
  /** Hex SHA-256 of the zip: the store's key. */
  sha256Hex: string;
  /** Base64 SHA-256, as Lambda's CodeSha256 shows it. */
  sha256Base64: string;
  size: number;
}

export interface CodeStore {
  put(zip: Buffer): Promise<StoredCode>;
  get(sha256Hex: string): Promise<Buffer | undefined>;
  /** A stream of the zip, for downloads; undefined when absent. */
  open(sha256Hex: string): Promise<{ stream: Readable; size: number } | undefined>;
  delete(sha256Hex: string): Promise<void>;
}

export const hexToBase64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64');
export const base64ToHex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex');

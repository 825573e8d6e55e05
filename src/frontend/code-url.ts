// Code.Location of GetFunction: a link to the exact zip, served by Kindling
// as S3 would serve a presigned URL. Signed with a server secret and expiring.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const CODE_PATH = '/kindling/code/:key';
/** Lambda's presigned code links last 10 minutes. */
export const CODE_URL_TTL_SECONDS = 600;

export class CodeUrlSigner {
  constructor(private readonly secret: Buffer) {}

  private signature(key: string, expires: number): string {
    return createHmac('sha256', this.secret).update(`${key}\n${expires}`).digest('hex');
  }

  /** The path and query of a download link for a package. */
  sign(key: string, now = Date.now()): string {
    const expires = Math.floor(now / 1000) + CODE_URL_TTL_SECONDS;
    return `/kindling/code/${key}?X-Kindling-Expires=${expires}&X-Kindling-Signature=${this.signature(key, expires)}`;
  }

  verify(key: string, query: URLSearchParams, now = Date.now()): boolean {
    const expires = Number(query.get('X-Kindling-Expires'));
    const given = query.get('X-Kindling-Signature') ?? '';
    if (!Number.isInteger(expires) || expires < Math.floor(now / 1000)) return false;
    const want = this.signature(key, expires);
    return given.length === want.length && timingSafeEqual(Buffer.from(given), Buffer.from(want));
  }
}

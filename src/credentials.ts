// One place for Kindling's access keys. The server's root key comes from
// KINDLING_ACCESS_KEY_ID / KINDLING_SECRET_ACCESS_KEY, or is made at first
// start and kept in the data folder (owner-only); clients read the same.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

const ROOT_KEY_FILE = 'root-key.json';

const fromEnv = (): AccessKey | undefined => {
  const accessKeyId = process.env.KINDLING_ACCESS_KEY_ID;
  const secretAccessKey = process.env.KINDLING_SECRET_ACCESS_KEY;
  return accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined;
};

const readKeyFile = (dataDir: string): AccessKey | undefined => {
  try {
    const key = JSON.parse(readFileSync(join(dataDir, ROOT_KEY_FILE), 'utf8')) as Partial<AccessKey>;
    return key.accessKeyId && key.secretAccessKey ? { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey } : undefined;
  } catch {
    return undefined;
  }
};

/** Where the root key came from: the environment, the data folder, made now, or the cluster's state store. */
export type RootKeySource = 'env' | 'file' | 'created' | 'cluster';

export const rootKeyFromEnv = fromEnv;

export const newRootKey = (): AccessKey => ({
  accessKeyId: `AKKL${randomBytes(8).toString('hex').toUpperCase()}`,
  secretAccessKey: randomBytes(30).toString('base64url'),
});

/** Keeps the key in the data folder (owner-only), where `kindling` commands on this machine read it. */
export function writeRootKeyFile(dataDir: string, key: AccessKey): void {
  writeFileSync(join(dataDir, ROOT_KEY_FILE), `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600 });
}

/** The server's root key; `created` when this start made it. */
export function ensureRootKey(dataDir: string): { key: AccessKey; source: RootKeySource } {
  const env = fromEnv();
  if (env) return { key: env, source: 'env' };
  const stored = readKeyFile(dataDir);
  if (stored) return { key: stored, source: 'file' };
  const key = newRootKey();
  writeRootKeyFile(dataDir, key);
  return { key, source: 'created' };
}

/** The key a client signs with: the environment first, then the local server's root key. */
export function clientKey(dataDir: string): AccessKey {
  return (
    fromEnv() ??
    readKeyFile(dataDir) ?? {
      // No server has run here yet: this key is refused (UnrecognizedClientException) until one has made root-key.json.
      accessKeyId: 'KINDLINGLOCAL',
      secretAccessKey: 'kindling-local-secret',
    }
  );
}

/** A server-only secret (code download links), kept beside the root key. */
export function serverSecret(dataDir: string): Buffer {
  const path = join(dataDir, 'server-secret');
  try {
    const s = readFileSync(path);
    if (s.length >= 32) return s;
  } catch {
    // made below
  }
  const secret = randomBytes(32);
  writeFileSync(path, secret, { mode: 0o600 });
  return secret;
}

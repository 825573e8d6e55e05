// The state store: Kindling's DynamoDB. An interface with an embedded SQLite
// implementation; cluster mode adds PostgreSQL behind the same calls.
import type { AliasRecord, FunctionRecord, FunctionVersion } from '../control/model.js';

export interface VersionKey {
  functionName: string;
  version: string;
}

export interface StateStore {
  /** Creates the function and its $LATEST; false when the name is taken. */
  createFunction(fn: FunctionRecord, latest: FunctionVersion): Promise<boolean>;
  getFunction(name: string): Promise<FunctionRecord | undefined>;
  /** Replaces function-wide settings. */
  putFunction(fn: FunctionRecord): Promise<void>;
  getVersion(name: string, version: string): Promise<FunctionVersion | undefined>;
  /**
   * Writes a version when its stored RevisionId is still `expectedRevisionId`
   * (or the version does not exist yet, when that is undefined).
   * False when another writer got there first.
   */
  putVersion(record: FunctionVersion, expectedRevisionId: string | undefined): Promise<boolean>;
  /** Publishes a new version number atomically: bumps lastVersion and writes the version. */
  publishVersion(fn: FunctionRecord, version: FunctionVersion): Promise<boolean>;
  /** Versions of one function, $LATEST first then by number. */
  listVersions(name: string): Promise<FunctionVersion[]>;
  /** $LATEST (or every version with allVersions) of every function, in key order after `after`. */
  listFunctionVersions(opts: { after?: VersionKey; limit: number; allVersions: boolean }): Promise<FunctionVersion[]>;
  deleteFunction(name: string): Promise<void>;
  deleteVersion(name: string, version: string): Promise<void>;
  /** True when any version of any function still uses this code. */
  isCodeReferenced(codeSha256: string): Promise<boolean>;
  /** Functions that reserve concurrency, and how much. */
  listReservations(): Promise<{ functionName: string; reserved: number }[]>;
  getAlias(functionName: string, name: string): Promise<AliasRecord | undefined>;
  /** Writes an alias when its stored RevisionId is still `expectedRevisionId` (undefined: it must not exist yet). */
  putAlias(alias: AliasRecord, expectedRevisionId: string | undefined): Promise<boolean>;
  listAliases(functionName: string): Promise<AliasRecord[]>;
  deleteAlias(functionName: string, name: string): Promise<void>;
  /** Total bytes of code held by all versions, and how many functions there are. */
  usage(): Promise<{ totalCodeSize: number; functionCount: number }>;
  close(): Promise<void>;
}

// Lambda's quotas, in one place. Values are Lambda's documented defaults.

/** Synchronous invoke request and response payload: 6 MB. */
export const SYNC_PAYLOAD_MAX_BYTES = 6 * 1024 * 1024;
/** Lambda reports the response limit with 100 bytes of slack over the request limit. */
export const SYNC_RESPONSE_MAX_BYTES = SYNC_PAYLOAD_MAX_BYTES + 100;
/** Asynchronous (Event) invoke payload: 1 MB. */
export const ASYNC_PAYLOAD_MAX_BYTES = 1024 * 1024;
/** All environment variables of a function together: 4 KB. */
export const ENVIRONMENT_MAX_BYTES = 4 * 1024;
/** Function timeout, seconds. */
export const TIMEOUT_MIN_SECONDS = 1;
export const TIMEOUT_MAX_SECONDS = 900;
export const TIMEOUT_DEFAULT_SECONDS = 3;
/** Function memory, MB. */
export const MEMORY_MIN_MB = 128;
export const MEMORY_MAX_MB = 10240;
export const MEMORY_DEFAULT_MB = 128;
/** Ephemeral storage (/tmp), MB. */
export const EPHEMERAL_STORAGE_MIN_MB = 512;
export const EPHEMERAL_STORAGE_MAX_MB = 10240;
export const EPHEMERAL_STORAGE_DEFAULT_MB = 512;
/** Deployment package uploaded directly (Code.ZipFile): 50 MB zipped. */
export const ZIP_MAX_BYTES = 50 * 1024 * 1024;
/** Function code (and layers) unzipped: 250 MB. */
export const UNZIPPED_MAX_BYTES = 262_144_000;
/** Lambda's request body limit for CreateFunction / UpdateFunctionCode (a base64 zip plus settings). */
export const CONTROL_BODY_MAX_BYTES = 70_167_211;
/** Function description. */
export const DESCRIPTION_MAX_CHARS = 256;
/** Init phase bound, seconds. */
export const INIT_TIMEOUT_SECONDS = 10;
/** Client context header: base64 of at most this many bytes. */
export const CLIENT_CONTEXT_MAX_BYTES = 3583;
/** X-Amz-Log-Result carries the last 4 KB of the invoke's log. */
export const LOG_TAIL_BYTES = 4096;
/** Function output kept in the log store per invoke (and per init); past it, one `[kindling] log truncated` line. */
export const LOG_PER_INVOKE_MAX_BYTES = 256 * 1024;
/** Account-wide concurrent executions (GetAccountSettings). */
export const ACCOUNT_CONCURRENCY_DEFAULT = 1000;
/** Unreserved concurrency Lambda always keeps. */
export const UNRESERVED_CONCURRENCY_MIN = 100;
/** Total code storage per account (GetAccountSettings): 75 GB. */
export const CODE_STORAGE_MAX_BYTES = 80_530_636_800;
/** ListFunctions page size when MaxItems is not given, and its ceiling. */
export const LIST_MAX_ITEMS = 50;
/** Function name: 64 characters as a name, 140 with an ARN. */
export const FUNCTION_NAME_MAX_CHARS = 64;
export const FUNCTION_ARN_MAX_CHARS = 140;
/** Layers per function. */
export const LAYERS_MAX = 5;
/** Tags per function. */
export const TAGS_MAX = 50;

// Lambda's error taxonomy: every error Kindling returns is built here, so the
// type names, HTTP statuses and message texts are written once.

/** An error of the Lambda API, rendered on the wire as Lambda renders it. */
export class LambdaError extends Error {
  readonly type: string;
  readonly status: number;
  /** "User" for caller mistakes, "Service" for Kindling's own failures. */
  readonly fault: 'User' | 'Service';
  /** Extra members of the error body (TooManyRequestsException's Reason, ...). */
  readonly fields: Record<string, unknown>;
  /** Extra response headers (Retry-After, ...). */
  readonly headers: Record<string, string>;

  constructor(
    type: string,
    status: number,
    message: string,
    opts: { fault?: 'User' | 'Service'; fields?: Record<string, unknown>; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = type;
    this.type = type;
    this.status = status;
    this.fault = opts.fault ?? (status >= 500 ? 'Service' : 'User');
    this.fields = opts.fields ?? {};
    this.headers = opts.headers ?? {};
  }

  /** The JSON body Lambda sends with this error. */
  body(): Record<string, unknown> {
    if (UNTYPED.has(this.type)) return { message: this.message };
    if (CAPITAL_MESSAGE.has(this.type)) return { Type: this.fault, Message: this.message, ...this.fields };
    return { Type: this.fault, message: this.message, ...this.fields };
  }
}

// Lambda is not uniform in the case of the message member; these follow its
// service model and recorded responses. Everything else sends Type + message.
const CAPITAL_MESSAGE = new Set([
  'ResourceNotFoundException',
  'ServiceException',
  'ResourceInUseException',
  'InvalidZipFileException',
  'InvalidRuntimeException',
  'RequestEntityTooLargeException',
]);
/** Errors of the service framework rather than Lambda's model: no Type member. */
const UNTYPED = new Set([
  'ValidationException',
  'SerializationException',
  'UnknownOperationException',
  // Authentication is the service framework's too: Lambda sends {"message": ...} with x-amzn-ErrorType.
  'MissingAuthenticationTokenException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'AccessDeniedException',
]);

export const isLambdaError = (e: unknown): e is LambdaError => e instanceof LambdaError;

// --- 4xx: the caller's request ---

export const validationError = (problems: string[]): LambdaError =>
  new LambdaError(
    'ValidationException',
    400,
    `${problems.length} validation error${problems.length === 1 ? '' : 's'} detected: ${problems.join('; ')}`,
  );

export const invalidParameterValue = (message: string): LambdaError =>
  new LambdaError('InvalidParameterValueException', 400, message);

export const resourceNotFound = (message: string): LambdaError =>
  new LambdaError('ResourceNotFoundException', 404, message);

export const functionNotFound = (functionArn: string): LambdaError =>
  resourceNotFound(`Function not found: ${functionArn}`);

export const provisionedConcurrencyConfigNotFound = (): LambdaError =>
  new LambdaError('ProvisionedConcurrencyConfigNotFoundException', 404, 'No Provisioned Concurrency Config found for this function');

export const resourceConflict = (message: string): LambdaError =>
  new LambdaError('ResourceConflictException', 409, message);

export const preconditionFailed = (message: string): LambdaError =>
  new LambdaError('PreconditionFailedException', 412, message);

export const revisionIdMismatch = (): LambdaError =>
  preconditionFailed(
    'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
  );

/** Lambda answers oversized requests (Invoke payloads, CreateFunction bodies) with this unmodelled type. */
export const requestEntityTooLarge = (message: string): LambdaError =>
  new LambdaError('RequestEntityTooLargeException', 413, message);

export const requestTooLargeForOperation = (limit: number, operation: string): LambdaError =>
  requestEntityTooLarge(`Request must be smaller than ${limit} bytes for the ${operation} operation`);

export const invalidRequestContent = (message: string): LambdaError =>
  new LambdaError('InvalidRequestContentException', 400, message);

export const unsupportedMediaType = (message: string): LambdaError =>
  new LambdaError('UnsupportedMediaTypeException', 415, message);

export const unknownOperation = (): LambdaError =>
  new LambdaError('UnknownOperationException', 404, 'Unknown operation.');

export const methodNotAllowed = (method: string, path: string): LambdaError =>
  new LambdaError('UnknownOperationException', 405, `Method ${method} is not allowed on ${path}.`);

export const serializationError = (message: string): LambdaError =>
  new LambdaError('SerializationException', 400, message);

export const codeStorageExceeded = (): LambdaError =>
  new LambdaError('CodeStorageExceededException', 400, 'Code storage limit exceeded.');

export type ThrottleReason =
  | 'ConcurrentInvocationLimitExceeded'
  | 'FunctionInvocationRateLimitExceeded'
  | 'ReservedFunctionConcurrentInvocationLimitExceeded'
  | 'ReservedFunctionInvocationRateLimitExceeded'
  | 'CallerRateLimitExceeded'
  | 'ConcurrentSnapshotCreateLimitExceeded';

export const tooManyRequests = (reason: ThrottleReason, retryAfterSeconds = 1, message = 'Rate Exceeded.'): LambdaError =>
  new LambdaError('TooManyRequestsException', 429, message, {
    fields: { Reason: reason, retryAfterSeconds: String(retryAfterSeconds) },
    headers: { 'Retry-After': String(retryAfterSeconds) },
  });

// --- Authentication (SigV4): the texts of AWS's own authenticator ---

export const missingAuthenticationToken = (): LambdaError =>
  new LambdaError('MissingAuthenticationTokenException', 403, 'Missing Authentication Token');

/** An access key Kindling does not know, or a session token (Kindling issues none). */
export const unrecognizedClient = (): LambdaError =>
  new LambdaError('UnrecognizedClientException', 403, 'The security token included in the request is invalid.');

export const signatureMismatch = (): LambdaError =>
  new LambdaError(
    'InvalidSignatureException',
    403,
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  );

const amzDate = (t: number): string => new Date(t).toISOString().replace(/[-:]|\.\d{3}/g, '');

/** Signed longer ago than the skew allows (header auth: 15 min; presigned: past X-Amz-Expires, skew 0). */
export const signatureExpired = (signed: string, now: number, skewMinutes: number): LambdaError =>
  new LambdaError(
    'InvalidSignatureException',
    403,
    `Signature expired: ${signed} is now earlier than ${amzDate(now - skewMinutes * 60_000)} (${amzDate(now)} - ${skewMinutes} min.)`,
  );

export const notYetCurrent = (signed: string, now: number): LambdaError =>
  new LambdaError(
    'InvalidSignatureException',
    403,
    `Signature not yet current: ${signed} is still later than ${amzDate(now + 15 * 60_000)} (${amzDate(now)} + 15 min.)`,
  );

export const credentialScopeRegion = (region: string): LambdaError =>
  new LambdaError('InvalidSignatureException', 403, `Credential should be scoped to a valid region, not '${region}'. `);

export const credentialScopeService = (service: string): LambdaError =>
  new LambdaError('InvalidSignatureException', 403, `Credential should be scoped to correct service: '${service}'. `);

export const credentialScopeDate = (scopeDate: string, amzDateText: string): LambdaError =>
  new LambdaError(
    'InvalidSignatureException',
    403,
    `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${amzDateText.slice(0, 8)}', from '${amzDateText}'.`,
  );

export const hostNotSigned = (): LambdaError =>
  new LambdaError('InvalidSignatureException', 403, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");

export const incompleteSignature = (message: string): LambdaError =>
  new LambdaError('IncompleteSignatureException', 400, message);

export const credentialWrongShape = (credential: string): LambdaError =>
  incompleteSignature(`Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${credential}'`);

export const invalidDateFormat = (date: string): LambdaError =>
  incompleteSignature(`Date must be in ISO-8601 'basic format'. Got '${date}'. See http://en.wikipedia.org/wiki/ISO_8601`);

export const missingQueryParameter = (name: string): LambdaError =>
  incompleteSignature(`AWS query-string parameters must include '${name}'. Re-examine the query-string parameters.`);

export const accessDenied = (message: string): LambdaError => new LambdaError('AccessDeniedException', 403, message);

// --- 5xx: Kindling's own failures ---

export const serviceException = (message: string, cause?: unknown): LambdaError =>
  new LambdaError('ServiceException', 500, message, { cause });

export const resourceNotReady = (message: string): LambdaError =>
  new LambdaError('ResourceNotReadyException', 502, message);

export const invalidZipFile = (message: string): LambdaError =>
  new LambdaError('InvalidZipFileException', 502, message);

export const invalidRuntime = (message: string): LambdaError =>
  new LambdaError('InvalidRuntimeException', 502, message);

// --- Function errors: what a sandbox run reports inside a 200 Invoke response ---

/** Lambda's errorType names for failures of the function rather than of the API. */
export const FunctionErrorType = {
  Timedout: 'Sandbox.Timedout',
  ExitError: 'Runtime.ExitError',
  OutOfMemory: 'Runtime.OutOfMemory',
  HandlerNotFound: 'Runtime.HandlerNotFound',
  ImportModuleError: 'Runtime.ImportModuleError',
  UserCodeSyntaxError: 'Runtime.UserCodeSyntaxError',
  MalformedHandlerName: 'Runtime.MalformedHandlerName',
  InvalidEntrypoint: 'Runtime.InvalidEntrypoint',
  ResponseSizeTooLarge: 'Function.ResponseSizeTooLarge',
  Unknown: 'Runtime.Unknown',
} as const;
export type FunctionErrorTypeName = (typeof FunctionErrorType)[keyof typeof FunctionErrorType];

/** The body of a failed invoke, as Lambda returns it with X-Amz-Function-Error. */
export interface FunctionErrorBody {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

/**
 * A LambdaError as another Kindling process sent it (x-amzn-ErrorType, status,
 * JSON body): a cluster frontend passes its manager's refusals on unchanged.
 * Undefined when the response is not one of Lambda's errors.
 */
export function lambdaErrorFromResponse(status: number, type: unknown, body: unknown, headers: Record<string, string> = {}): LambdaError | undefined {
  if (typeof type !== 'string' || type === '' || typeof body !== 'object' || body === null) return undefined;
  const { Type, message, Message, ...fields } = body as Record<string, unknown>;
  const text = typeof message === 'string' ? message : typeof Message === 'string' ? Message : '';
  const fault = Type === 'User' || Type === 'Service' ? Type : undefined;
  return new LambdaError(type, status, text, { ...(fault ? { fault } : {}), fields, headers });
}

// Lambda's member constraints (from its service model), as regular expressions
// plus the Java pattern text its validator prints.

const anchored = (java: string): RegExp => new RegExp(`^(?:${java})$`);

const rule = (java: string) => ({ pattern: anchored(java), patternText: java });

export const FUNCTION_NAME_CREATE = {
  ...rule('(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?'),
  min: 1,
  max: 140,
};

export const FUNCTION_NAME_NAMESPACED = {
  ...rule('(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST(\\.PUBLISHED)?|[a-zA-Z0-9-_]+))?'),
  min: 1,
  max: 170,
};

export const FUNCTION_NAME_UNQUALIFIED = {
  ...rule('(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)'),
  min: 1,
  max: 140,
};

export const QUALIFIER = { ...rule('(|[a-zA-Z0-9$_-]+)'), min: 1, max: 128 };

export const ROLE = rule('arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+');

export const HANDLER = { ...rule('[^\\s]+'), max: 128 };

export const ENV_KEY = rule('[a-zA-Z]([a-zA-Z0-9_])+');

export const KMS_KEY_ARN = rule('(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()');

export const LAYER_VERSION_ARN = {
  ...rule('arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+'),
  min: 1,
  max: 140,
};

export const DLQ_TARGET_ARN = rule('(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()');


export const ARCHITECTURES = ['x86_64', 'arm64'] as const;
export const TRACING_MODES = ['Active', 'PassThrough'] as const;
export const LOG_FORMATS = ['JSON', 'Text'] as const;
export const APPLICATION_LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
export const SYSTEM_LOG_LEVELS = ['DEBUG', 'INFO', 'WARN'] as const;
export const PACKAGE_TYPES = ['Zip', 'Image'] as const;
export const FUNCTION_VERSION_LIST = ['ALL'] as const;

/** Environment variable names Lambda sets itself and refuses to let a function override. */
export const RESERVED_ENV_KEYS = [
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_DEFAULT_REGION',
  'AWS_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
];

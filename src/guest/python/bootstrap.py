"""Kindling's Python runtime: the Lambda Python runtime loop (AWS's
aws-lambda-python-runtime-interface-client, awslambdaric/bootstrap.py), standard
library only.

Started by the guest agent as `python3 -u bootstrap.py <handler>` with the function's
environment, AWS_LAMBDA_RUNTIME_API included. It loads the handler (`module.function`,
`dir/module.function`, `pkg.module.function`), then loops: GET next, call the handler,
POST the response or the error, with Lambda's error bodies, context object and log
format. In a pooled sandbox it is started ahead as `bootstrap.py --standby` and
waits on fd 3 for its function (_standby below). Startup is kept short: the Runtime API is spoken over one persistent socket
(a few lines of HTTP/1.1) rather than through http.client, whose imports (email,
ssl) cost about 15 ms; traceback and decimal are only imported when needed.
"""

import json
import logging
import os
import socket
import sys
import time

ERROR_LOG_LINE_TERMINATE = "\r"
ERROR_LOG_IDENT = "\u00a0"  # NO-BREAK SPACE U+00A0
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"

LAMBDA_WARNING = "LAMBDA_WARNING"
UNHANDLED_EXCEPTION_WARNING = (
    LAMBDA_WARNING + ": "
    "Unhandled exception. "
    "The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, or can be applied automatically. "
    "To determine if the runtime has been updated, check the runtime version in the INIT_START log entry. "
    "If this error correlates with a change in the runtime version, you may be able to mitigate this error by temporarily rolling back to the previous runtime version. "
    "For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r"
)


class FaultException(Exception):
    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, exception_type, msg, trace=None):
        self.msg = msg
        self.exception_type = exception_type
        self.trace = trace


# ---------------------------------------------------------------- JSON


_DECIMAL_MARK = "\x00kindling-decimal\x00"


class _HasDecimal(Exception):
    pass


def _default_plain(obj):
    dec = sys.modules.get("decimal")
    if dec is not None and isinstance(obj, dec.Decimal):
        raise _HasDecimal()
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


def _default_decimal(obj):
    dec = sys.modules.get("decimal")
    if dec is not None and isinstance(obj, dec.Decimal):
        if obj.is_nan():
            return float("nan")
        # Written as its exact digits, like the runtime's simplejson RawJSON.
        return _DECIMAL_MARK + str(obj) + _DECIMAL_MARK
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


def to_json(obj):
    try:
        return json.dumps(obj, ensure_ascii=_ENSURE_ASCII, allow_nan=True, default=_default_plain)
    except _HasDecimal:
        import re

        text = json.dumps(obj, ensure_ascii=_ENSURE_ASCII, allow_nan=True, default=_default_decimal)
        mark = json.dumps(_DECIMAL_MARK, ensure_ascii=True)[1:-1]
        return re.sub('"' + re.escape(mark) + "([^\"\\\\]*)" + re.escape(mark) + '"', lambda m: m.group(1), text)


def marshal_response(response):
    if isinstance(response, bytes):
        return response, "application/unknown"
    try:
        return to_json(response).encode("utf-8"), "application/json"
    except Exception as e:
        raise FaultException(FaultException.MARSHAL_ERROR, "Unable to marshal response: {}".format(str(e)), None)


def unmarshal_request(body, content_type):
    if content_type != "application/json":
        return bytes(body)
    try:
        return json.loads(body)
    except Exception as e:
        raise FaultException(FaultException.UNMARSHAL_ERROR, "Unable to unmarshal input: {}".format(str(e)), None)


# ---------------------------------------------------------------- Runtime API client


class RuntimeApiError(Exception):
    def __init__(self, endpoint, response_code, response_body):
        self.endpoint = endpoint
        self.response_code = response_code
        self.response_body = response_body
        super().__init__(
            f"Request to Lambda Runtime '{endpoint}' endpoint failed. Reason: '{response_code}'. Response body: '{response_body}'"
        )


class RuntimeClient(object):
    """HTTP/1.1 over one keep-alive connection to the Runtime API."""

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.address = (host or "127.0.0.1", int(port))
        self.host_header = address
        self.sock = None
        self.buf = b""
        self.answered = False

    def _connect(self):
        sock = socket.create_connection(self.address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.buf = b""

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = b""

    def request(self, method, path, body=b"", headers=None):
        head = "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (method, path, self.host_header, len(body))
        if headers:
            for k, v in headers.items():
                head += "%s: %s\r\n" % (k, v)
        head = (head + "\r\n").encode("utf-8")
        for attempt in (0, 1):
            reused = self.sock is not None
            if not reused:
                self._connect()
            self.answered = False
            try:
                if len(body) < 65536:
                    self.sock.sendall(head + body)
                else:
                    self.sock.sendall(head)
                    self.sock.sendall(body)
                return self._read_response()
            except OSError:
                self.close()
                # A kept-alive connection the server had closed: once more on a new one.
                if reused and not self.answered and attempt == 0:
                    continue
                raise

    def _recv(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("Runtime API closed the connection")
        self.answered = True
        return chunk

    def _read_response(self):
        buf = self.buf
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            buf += self._recv()
        lines = buf[:end].decode("latin-1").split("\r\n")
        rest = buf[end + 4 :]
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body, rest = self._read_chunked(rest)
        else:
            n = int(headers.get("content-length", "0"))
            if len(rest) >= n:
                body, rest = rest[:n], rest[n:]
            else:
                body = bytearray(n)
                view = memoryview(body)
                have = len(rest)
                view[:have] = rest
                while have < n:
                    got = self.sock.recv_into(view[have:])
                    if not got:
                        raise ConnectionError("Runtime API closed the connection")
                    have += got
                rest = b""
        self.buf = rest
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def _read_chunked(self, buf):
        parts = []
        while True:
            while b"\r\n" not in buf:
                buf += self._recv()
            line, _, buf = buf.partition(b"\r\n")
            size = int(line.split(b";", 1)[0], 16)
            while len(buf) < size + 2:
                buf += self._recv()
            if size == 0:
                # trailers (none expected) end with an empty line
                while not buf.startswith(b"\r\n") and b"\r\n\r\n" not in buf:
                    buf += self._recv()
                buf = buf[2:] if buf.startswith(b"\r\n") else buf.split(b"\r\n\r\n", 1)[1]
                return b"".join(parts), buf
            parts.append(buf[:size])
            buf = buf[size + 2 :]

    def _call(self, method, path, expected, body=b"", headers=None):
        status, _, response_body = self.request(method, path, body, headers)
        if status != expected:
            raise RuntimeApiError(path, status, bytes(response_body))

    def wait_next_invocation(self):
        status, headers, body = self.request("GET", "/2018-06-01/runtime/invocation/next")
        if status != 200:
            raise RuntimeApiError("/2018-06-01/runtime/invocation/next", status, bytes(body))
        return headers, body

    def post_invocation_result(self, invoke_id, result, content_type="application/json"):
        self._call(
            "POST",
            "/2018-06-01/runtime/invocation/%s/response" % _quote(invoke_id),
            202,
            result,
            {"Content-Type": content_type},
        )

    def post_invocation_error(self, invoke_id, error_result):
        self._call(
            "POST",
            "/2018-06-01/runtime/invocation/%s/error" % _quote(invoke_id),
            202,
            to_json(error_result).encode("utf-8"),
            {"Content-Type": "application/json", ERROR_TYPE_HEADER: _header(error_result.get("errorType") or "Unhandled")},
        )

    def post_init_error(self, error_result):
        self._call(
            "POST",
            "/2018-06-01/runtime/init/error",
            202,
            to_json(error_result).encode("utf-8"),
            {"Content-Type": "application/json", ERROR_TYPE_HEADER: _header(error_result.get("errorType") or "Unhandled")},
        )


_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _quote(text):
    if all(c in _SAFE for c in text):
        return text
    from urllib.parse import quote

    return quote(text, safe="")


def _header(text):
    return str(text).replace("\r", " ").replace("\n", " ")


# ---------------------------------------------------------------- context


class LambdaContext(object):
    def __init__(self, invoke_id, client_context, cognito_identity, epoch_deadline_time_in_ms, invoked_function_arn=None, tenant_id=None):
        self.aws_request_id = invoke_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id

        self.client_context = make_obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = make_obj_from_dict(Client, self.client_context.client)

        self.identity = make_obj_from_dict(CognitoIdentity, {})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")

        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self):
        epoch_now_in_ms = int(time.time() * 1000)
        delta_ms = self._epoch_deadline_time_in_ms - epoch_now_in_ms
        return delta_ms if delta_ms > 0 else 0

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}"
            "])"
        )


class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}"
            "])"
        )


class Client(object):
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"installation_id={self.installation_id},"
            f"app_title={self.app_title},"
            f"app_version_name={self.app_version_name},"
            f"app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}"
            "])"
        )


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return f"{self.__class__.__name__}([custom={self.custom},env={self.env},client={self.client}])"


def make_obj_from_dict(_class, _dict):
    if _dict is None:
        return None
    obj = _class()
    for field in obj.__class__.__slots__:
        setattr(obj, field, _dict.get(field, None))
    return obj


def parse_json_header(header, name):
    try:
        return json.loads(header)
    except Exception as e:
        raise FaultException(FaultException.LAMBDA_CONTEXT_UNMARSHAL_ERROR, "Unable to parse {} JSON: {}".format(name, str(e)), None)


def _utf8_header(value):
    # Header bytes arrive as Latin-1 text; the Runtime API sends UTF-8.
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def create_lambda_context(client_context_json, cognito_identity_json, epoch_deadline_time_in_ms, invoke_id, invoked_function_arn):
    client_context = None
    if client_context_json:
        client_context = parse_json_header(client_context_json, "Client Context")
    cognito_identity = None
    if cognito_identity_json:
        cognito_identity = parse_json_header(cognito_identity_json, "Cognito Identity")
    return LambdaContext(invoke_id, client_context, cognito_identity, epoch_deadline_time_in_ms, invoked_function_arn)


# ---------------------------------------------------------------- errors


def make_error(error_message, error_type, stack_trace, invoke_id=None):
    return {
        "errorMessage": error_message if error_message else "",
        "errorType": error_type if error_type else "",
        "requestId": invoke_id if invoke_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def extract_traceback(tb):
    import traceback

    return [(frame.filename, frame.lineno, frame.name, frame.line) for frame in traceback.extract_tb(tb)]


def _user_frames(tb):
    tb_tuples = extract_traceback(tb)
    for i in range(len(tb_tuples)):
        if "/bootstrap.py" not in tb_tuples[i][0]:
            return tb_tuples[i:]
    return tb_tuples


def build_fault_result(exc_info, msg, invoke_id=None):
    import traceback

    etype, value, tb = exc_info
    return make_error(msg if msg else str(value), etype.__name__, traceback.format_list(_user_frames(tb)), invoke_id)


def replace_line_indentation(line, indent_char, new_indent_char):
    ident_chars_count = 0
    for c in line:
        if c != indent_char:
            break
        ident_chars_count += 1
    return (new_indent_char * ident_chars_count) + line[ident_chars_count:]


def log_error(error_result):
    if _LOG_FORMAT_JSON:
        record = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time())),
            "log_level": "ERROR",
        }
        record.update(error_result)
        sys.stdout.write(to_json(record).replace("\n", "\r") + "\n")
        return

    error_description = "[ERROR]"
    error_result_type = error_result.get("errorType")
    if error_result_type:
        error_description += " " + error_result_type
    error_result_message = error_result.get("errorMessage")
    if error_result_message:
        if error_result_type:
            error_description += ":"
        error_description += " " + error_result_message

    error_message_lines = [error_description]
    stack_trace = error_result.get("stackTrace")
    if stack_trace is not None:
        error_message_lines += ["Traceback (most recent call last):"]
        for trace_element in stack_trace:
            if trace_element == "":
                error_message_lines += [""]
            else:
                for trace_line in trace_element.splitlines():
                    error_message_lines += [replace_line_indentation(trace_line, " ", ERROR_LOG_IDENT)]
    # One record: lines joined with "\r" (a "\n" in a message would not survive either).
    sys.stdout.write(ERROR_LOG_LINE_TERMINATE.join(error_message_lines).replace("\n", "\r") + "\n")


# ---------------------------------------------------------------- handler


def _get_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException(FaultException.MALFORMED_HANDLER_NAME, "Bad handler '{}': {}".format(handler, str(e)))

    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(
                FaultException.BUILT_IN_MODULE_CONFLICT,
                "Cannot use built-in module {} as a handler module".format(modname),
            )
        import importlib

        m = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise FaultException(FaultException.IMPORT_MODULE_ERROR, "Unable to import module '{}': {}".format(modname, str(e)))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise FaultException(
            FaultException.USER_CODE_SYNTAX_ERROR,
            "Syntax error in module '{}': {}".format(modname, str(e)),
            trace,
        )

    try:
        request_handler = getattr(m, fname)
    except AttributeError:
        raise FaultException(FaultException.HANDLER_NOT_FOUND, "Handler '{}' missing on module '{}'".format(fname, modname), None)
    return request_handler


# ---------------------------------------------------------------- logging


def _read_settings():
    """What this runtime takes from the function's environment (again after a standby gets its function)."""
    global _ENSURE_ASCII, _LOG_FORMAT_JSON, _LOG_LEVEL
    # Lambda's python3.12+ runtimes write non-ASCII characters as they are.
    _ENSURE_ASCII = os.environ.get("AWS_EXECUTION_ENV") not in {
        "AWS_Lambda_python3.12",
        "AWS_Lambda_python3.13",
        "AWS_Lambda_python3.14",
        "AWS_Lambda_python3.15",
    }
    _LOG_FORMAT_JSON = (os.environ.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"
    _LOG_LEVEL = {None: "", "TRACE": "DEBUG"}.get(os.environ.get("AWS_LAMBDA_LOG_LEVEL"), os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()


_read_settings()

_GLOBAL_AWS_REQUEST_ID = None

_RESERVED_FIELDS = {
    "name",
    "msg",
    "args",
    "levelname",
    "levelno",
    "pathname",
    "filename",
    "module",
    "exc_info",
    "exc_text",
    "stack_info",
    "lineno",
    "funcName",
    "created",
    "msecs",
    "relativeCreated",
    "thread",
    "threadName",
    "processName",
    "process",
    "aws_request_id",
    "tenant_id",
    "_frame_type",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    def __init__(self):
        super().__init__(datefmt="%Y-%m-%dT%H:%M:%SZ")

    def format(self, record):
        record.levelno = min(50, max(0, record.levelno)) // 10 * 10
        record.levelname = logging.getLevelName(record.levelno)
        exc_info = record.exc_info
        stack = None
        if exc_info:
            import traceback

            stack = traceback.format_tb(exc_info[2])
        result = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": stack,
            "errorType": exc_info[0].__name__ if exc_info else None,
            "errorMessage": str(exc_info[1]) if exc_info else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc_info else None,
        }
        result.update((k, v) for k, v in record.__dict__.items() if k not in _RESERVED_FIELDS and k not in result)
        result = {k: v for k, v in result.items() if v is not None}
        return json.dumps(result, ensure_ascii=False, default=str) + "\n"


class LambdaLoggerHandler(logging.Handler):
    def emit(self, record):
        msg = self.format(record)
        # One record, one line: "\n" inside the message becomes "\r" (as for console.log in Node).
        if "\n" in msg[:-1]:
            msg = msg[:-1].replace("\n", "\r") + msg[-1]
        sys.stdout.write(msg)


class LambdaLoggerFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _GLOBAL_AWS_REQUEST_ID or ""
        record.tenant_id = None
        return True


def _setup_logging():
    logging.Formatter.converter = time.gmtime
    logger = logging.getLogger()
    handler = LambdaLoggerHandler()
    if _LOG_FORMAT_JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                "%Y-%m-%dT%H:%M:%S",
            )
        )
    if _LOG_LEVEL in logging._nameToLevel:
        logger.setLevel(_LOG_LEVEL)
    handler.addFilter(LambdaLoggerFilter())
    logger.addHandler(handler)


# ---------------------------------------------------------------- loop


def _setup_path(task_root):
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if p and os.path.abspath(p) != here]
    version = "python%d.%d" % sys.version_info[:2]
    front = [task_root, "/opt/python/lib/%s/site-packages" % version, "/opt/python"]
    sys.path[:] = front + [p for p in rest if p not in front]


def handle_event_request(client, request_handler, headers, body):
    global _GLOBAL_AWS_REQUEST_ID

    invoke_id = headers.get("lambda-runtime-aws-request-id")
    _GLOBAL_AWS_REQUEST_ID = invoke_id
    trace_id = headers.get("lambda-runtime-trace-id")
    if trace_id is not None:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    elif "_X_AMZN_TRACE_ID" in os.environ:
        del os.environ["_X_AMZN_TRACE_ID"]

    error_result = None
    try:
        deadline = headers.get("lambda-runtime-deadline-ms")
        lambda_context = create_lambda_context(
            _utf8_header(headers.get("lambda-runtime-client-context")),
            _utf8_header(headers.get("lambda-runtime-cognito-identity")),
            int(deadline) if deadline else 0,
            invoke_id,
            headers.get("lambda-runtime-invoked-function-arn"),
        )
        event = unmarshal_request(body, headers.get("content-type"))
        response = request_handler(event, lambda_context)
        result, result_content_type = marshal_response(response)
    except FaultException as e:
        error_result = make_error(e.msg, e.exception_type, e.trace, invoke_id)
    except Exception:
        error_result = build_fault_result(sys.exc_info(), None, invoke_id)

    if error_result is not None:
        log_error(error_result)
        client.post_invocation_error(invoke_id, error_result)
    else:
        client.post_invocation_result(invoke_id, result, result_content_type)


# ---------------------------------------------------------------- standby

# As the interpreter started: sys.path after the script's folder, and what it was made of.
_START_PATH = sys.path[1:]
_START_PYTHONPATH = os.environ.get("PYTHONPATH")
_START_CWD = os.getcwd()
# Set by locale coercion (PEP 538) at startup: the agent starts a standby without LC_CTYPE.
_START_LC_CTYPE = os.environ.get("LC_CTYPE")


def _python_path(value, cwd):
    # As getpath and site make it: absolute, empty entries the working folder.
    return [os.path.abspath(os.path.join(cwd, p)) for p in value.split(":")] if value else []


def _standby(fd):
    """A pooled sandbox's interpreter: waits for its function, then becomes what
    `python3 -u bootstrap.py <handler>` started with its environment in its task root
    would be. The agent only sends a function whose environment agrees with this
    interpreter's on what Python and glibc read at startup (python-standby.ts)."""
    os.write(fd, b"standby\n")
    buf = b""
    while b"\n" not in buf:
        chunk = os.read(fd, 65536)
        if not chunk:
            sys.exit(0)  # the agent is gone
        buf += chunk
    os.close(fd)
    init = json.loads(buf)
    env = init["env"]
    if _START_LC_CTYPE is not None and "LC_CTYPE" not in env:
        env["LC_CTYPE"] = _START_LC_CTYPE  # last, where setenv put it at startup
    os.environ.clear()
    os.environ.update(env)
    os.chdir(init["taskRoot"])
    # PYTHONPATH's entries come after the script's folder, duplicates dropped (site.removeduppaths).
    start = set(_python_path(_START_PYTHONPATH, _START_CWD))
    rest = []
    for p in _python_path(env.get("PYTHONPATH"), init["taskRoot"]) + [p for p in _START_PATH if p not in start]:
        if p not in rest:
            rest.append(p)
    sys.path[1:] = rest
    # Folders that did not exist before the code was mounted (/opt/python) must be looked at again.
    for path, finder in list(sys.path_importer_cache.items()):
        if finder is None:
            del sys.path_importer_cache[path]
    time.tzset()
    sys.argv[1:] = [init["handler"]]
    _read_settings()


def _warm_up():
    # A function's first Init and invoke run Python's compiler and these paths cold: run them now.
    code = compile('def handler(event, context):\n    return {"ok": True, "n": [1, 2.5, None]}\n', "<standby>", "exec")
    space = {}
    exec(code, space)
    event = unmarshal_request(b'{"warm": [1, 2.5, "x", null, true]}', "application/json")
    marshal_response(space["handler"](event, None))
    import importlib  # noqa: F401  (what _get_handler imports)
    # The Runtime API connection's getaddrinfo: its first call in a process loads glibc's NSS modules (~2.5 ms here).
    socket.getaddrinfo("127.0.0.1", 9001, socket.AF_INET, socket.SOCK_STREAM)


def main():
    if sys.argv[1:2] == ["--standby"]:
        _warm_up()
        _standby(3)
    handler = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("_HANDLER", "")
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    _setup_path(task_root)
    client = RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])

    error_result = None
    try:
        _setup_logging()
        request_handler = _get_handler(handler)
    except FaultException as e:
        error_result = make_error(e.msg, e.exception_type, e.trace)
    except Exception:
        error_result = build_fault_result(sys.exc_info(), None)

    if error_result is not None:
        logging.warning(UNHANDLED_EXCEPTION_WARNING)
        log_error(error_result)
        client.post_init_error(error_result)
        sys.exit(1)

    while True:
        headers, body = client.wait_next_invocation()
        handle_event_request(client, request_handler, headers, body)


if __name__ == "__main__":
    main()

// InvokeWithResponseStream (POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations):
// 200 with an AWS event stream body: a PayloadChunk event per piece the function writes, as it
// writes it, then one InvokeComplete (ErrorCode/ErrorDetails for a function error, LogResult for
// X-Amz-Log-Type: Tail). A buffered (non-streaming) function's whole response is one PayloadChunk.
import type { ControlPlane } from '../control/functions.js';
import { DrainGate } from '../host/drain-gate.js';
import type { ResponseSink } from '../host/sandbox.js';
import type { InvokeService } from '../invoke/invoke.js';
import * as limits from '../limits.js';
import { requestTooLargeForOperation } from '../errors.js';
import { completeForError, invokeComplete, payloadChunk, type InvokeComplete } from './event-stream.js';
import type { Route } from './http.js';
import { checkPayload, decodeClientContext, dryRun, header, invokeRequest } from './invoke-routes.js';

const INVOCATION_TYPES = ['RequestResponse', 'DryRun'] as const;

export function invokeWithResponseStreamRoute(control: ControlPlane, invoker: InvokeService): Route {
  return {
    method: 'POST',
    path: '/2021-11-15/functions/:FunctionName/response-streaming-invocations',
    operation: 'InvokeWithResponseStream',
    bodyLimit: limits.SYNC_PAYLOAD_MAX_BYTES,
    tooLarge: (limit) => requestTooLargeForOperation(limit, 'InvokeWithResponseStream'),
    async handle(ctx) {
      const { invocationType, tail, ref } = invokeRequest(control, ctx, INVOCATION_TYPES);
      if (invocationType === 'DryRun') return dryRun(invoker, ref);
      const payload = checkPayload(ctx.body);
      const clientContext = decodeClientContext(header(ctx, 'x-amz-client-context'));
      const res = ctx.res;
      let version = '';
      let open = false;
      // Headers go out with the first event (or with InvokeComplete): the version is known by then.
      // (The function's own content type is not part of this API's answer; function URLs use it.)
      const openStream = (): void => {
        if (open) return;
        open = true;
        res.statusCode = 200;
        res.setHeader('Content-Type', 'application/vnd.amazon.eventstream');
        res.setHeader('X-Amz-Executed-Version', version);
      };
      const gate = new DrainGate(res);
      const sink: ResponseSink = {
        begin(v) {
          version = v;
        },
        start() {
          openStream();
          res.flushHeaders();
        },
        // A client that reads slowly holds the function's writes back (see ResponseSink.chunk).
        chunk: (bytes) => gate.write(payloadChunk(bytes)),
      };
      let out;
      try {
        out = await invoker.invoke({
          ref,
          requestId: ctx.requestId,
          payload,
          tail,
          ...(clientContext !== undefined ? { clientContext } : {}),
          stream: sink,
        });
      } catch (err) {
        if (!open) throw err;
        res.destroy();
        return { status: 200, handled: true };
      }
      version = out.executedVersion;
      let complete: InvokeComplete = {};
      if (out.functionError) {
        openStream();
        complete = completeForError(out.errorType, out.payload);
      } else if (!out.streamed) {
        openStream();
        if (out.payload.length !== 0) res.write(payloadChunk(out.payload));
      }
      if (out.logResult !== undefined) complete.LogResult = out.logResult;
      res.end(invokeComplete(complete));
      return { status: 200, handled: true };
    },
  };
}

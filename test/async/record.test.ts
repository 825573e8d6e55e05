// The invocation record a destination receives: Lambda's members, in Lambda's order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { invocationRecord } from '../../src/async/record.js';

const ARN = 'arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST';
const at = new Date('2019-11-14T18:16:05.568Z');

test('a success record, as text', () => {
  const text = JSON.stringify(
    invocationRecord({
      requestId: 'e4b46cbf-b738-xmpl-8880-a18cdf61200e',
      functionArn: ARN,
      condition: 'Success',
      approximateInvokeCount: 1,
      requestPayload: Buffer.from('{"ORDER_IDS":["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]}'),
      response: { executedVersion: '$LATEST', payload: Buffer.from('{"ok":true}') },
      timestamp: at,
    }),
  );
  assert.equal(
    text,
    '{"version":"1.0","timestamp":"2019-11-14T18:16:05.568Z","requestContext":{"requestId":"e4b46cbf-b738-xmpl-8880-a18cdf61200e",' +
      '"functionArn":"arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST","condition":"Success","approximateInvokeCount":1},' +
      '"requestPayload":{"ORDER_IDS":["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]},' +
      '"responseContext":{"statusCode":200,"executedVersion":"$LATEST"},"responsePayload":{"ok":true}}',
  );
});

test('a failure record carries functionError and the error body', () => {
  const r = invocationRecord({
    requestId: 'r',
    functionArn: ARN,
    condition: 'RetriesExhausted',
    approximateInvokeCount: 3,
    requestPayload: Buffer.from('{}'),
    response: {
      executedVersion: '1',
      functionError: 'Unhandled',
      payload: Buffer.from('{"errorType":"Error","errorMessage":"boom","trace":[]}'),
    },
    timestamp: at,
  });
  assert.deepEqual(r.responseContext, { statusCode: 200, executedVersion: '1', functionError: 'Unhandled' });
  assert.deepEqual(r.responsePayload, { errorType: 'Error', errorMessage: 'boom', trace: [] });
  assert.equal(r.requestContext.approximateInvokeCount, 3);
});

test('no response (throttled until too old): no responseContext or responsePayload', () => {
  const r = invocationRecord({
    requestId: 'r',
    functionArn: ARN,
    condition: 'EventAgeExceeded',
    approximateInvokeCount: 0,
    requestPayload: Buffer.from('"text"'),
  });
  assert.deepEqual(Object.keys(r), ['version', 'timestamp', 'requestContext', 'requestPayload']);
  assert.equal(r.requestPayload, 'text');
});

test('payloads that are not JSON pass through as strings; empty ones as null', () => {
  const r = invocationRecord({
    requestId: 'r',
    functionArn: ARN,
    condition: 'Success',
    approximateInvokeCount: 1,
    requestPayload: Buffer.from('{}'),
    response: { executedVersion: '$LATEST', payload: Buffer.from('not json') },
  });
  assert.equal(r.responsePayload, 'not json');
  const e = invocationRecord({
    requestId: 'r',
    functionArn: ARN,
    condition: 'Success',
    approximateInvokeCount: 1,
    requestPayload: Buffer.from('{}'),
    response: { executedVersion: '$LATEST', payload: Buffer.alloc(0) },
  });
  assert.equal(e.responsePayload, null);
});

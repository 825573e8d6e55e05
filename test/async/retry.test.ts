// Lambda's retry policy: the pure decisions, then the pollers carrying them
// out against a fake invoker on a real queue, with the time scale at 0.001
// (a minute is 60 ms) or 0.01.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  afterFunctionError,
  afterSystemError,
  envTimeScale,
  expired,
  functionErrorDelayMs,
  retryPolicy,
  systemErrorDelayMs,
} from '../../src/async/retry.js';
import { serviceException, tooManyRequests } from '../../src/errors.js';
import { functionError, harness, until } from './fakes.js';

const ev = (requestId: string, functionName = 'fn', payload: unknown = { n: 1 }) => ({
  functionName,
  requestId,
  payload: Buffer.from(JSON.stringify(payload)),
});

describe('policy', () => {
  test('defaults: 2 retries, 6 hours', () => {
    const p = retryPolicy(undefined, 1);
    assert.equal(p.maximumRetryAttempts, 2);
    assert.equal(p.maximumEventAgeMs, 21_600_000);
    assert.equal(retryPolicy({ maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 }, 0.5).maximumEventAgeMs, 30_000);
  });

  test('function errors: retried after 1 then 2 minutes, then RetriesExhausted', () => {
    const p = retryPolicy(undefined, 1);
    assert.deepEqual(afterFunctionError(0, 0, p), { kind: 'retry', delayMs: 60_000, functionErrors: 1, systemRetries: 0 });
    assert.deepEqual(afterFunctionError(60_000, 1, p), { kind: 'retry', delayMs: 120_000, functionErrors: 2, systemRetries: 0 });
    assert.deepEqual(afterFunctionError(180_000, 2, p), { kind: 'fail', condition: 'RetriesExhausted' });
    assert.deepEqual(afterFunctionError(0, 0, retryPolicy({ maximumRetryAttempts: 0 }, 1)), { kind: 'fail', condition: 'RetriesExhausted' });
  });

  test('a retry that would fall past the maximum age is not made', () => {
    const p = retryPolicy({ maximumEventAgeInSeconds: 90 }, 1);
    assert.equal(afterFunctionError(10_000, 0, p).kind, 'retry');
    assert.deepEqual(afterFunctionError(31_000, 0, p), { kind: 'fail', condition: 'EventAgeExceeded' });
    assert.equal(expired(90_000, p), false);
    assert.equal(expired(90_001, p), true);
  });

  test('throttles and system errors back off 1 s doubling up to 5 minutes, until the maximum age', () => {
    assert.deepEqual(
      Array.from({ length: 12 }, (_, i) => systemErrorDelayMs(i, 1)),
      [1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000, 300000],
    );
    assert.equal(systemErrorDelayMs(5000, 1), 300_000);
    const p = retryPolicy(undefined, 1);
    assert.deepEqual(afterSystemError(0, 1, 3, p), { kind: 'retry', delayMs: 8000, functionErrors: 1, systemRetries: 4 });
    assert.deepEqual(afterSystemError(21_600_000 - 100, 0, 0, p), { kind: 'fail', condition: 'EventAgeExceeded' });
  });

  test('every duration takes the time scale', () => {
    assert.equal(functionErrorDelayMs(1, 0.001), 60);
    assert.equal(functionErrorDelayMs(2, 0.001), 120);
    assert.equal(systemErrorDelayMs(0, 0.001), 1);
    assert.equal(envTimeScale({}), 1);
    assert.equal(envTimeScale({ KINDLING_ASYNC_TIME_SCALE: '0.001' }), 0.001);
    assert.throws(() => envTimeScale({ KINDLING_ASYNC_TIME_SCALE: '-1' }), /above 0/);
  });
});

describe('pollers', () => {
  test('a success runs once, with the request id of the accept, and is deleted', async () => {
    const h = harness();
    try {
      h.invoker.define('fn');
      await h.queue.enqueue(ev('r1', 'fn', { hello: 'world' }));
      await until(() => h.invoker.calls.length === 1);
      await until(async () => (await h.queue.stats()).inFlight === 0 && (await h.queue.stats()).visible === 0);
      assert.equal(h.invoker.calls[0]!.requestId, 'r1');
      assert.equal(h.invoker.calls[0]!.payload, '{"hello":"world"}');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(h.invoker.calls.length, 1);
      assert.deepEqual(await h.queue.stats(), { visible: 0, inFlight: 0, delayed: 0, failed: 0 });
    } finally {
      await h.close();
    }
  });

  test('a function error is retried twice, about 1 and 2 (scaled) minutes apart, then kept as failed', async () => {
    const h = harness();
    try {
      h.invoker.define('fn', () => functionError('always'));
      await h.queue.enqueue(ev('r1'));
      await until(async () => (await h.queue.stats()).failed === 1, 5000, 'the failed event');
      const calls = h.invoker.callsOf('r1');
      assert.equal(calls.length, 3);
      const gap1 = calls[1]!.at - calls[0]!.at;
      const gap2 = calls[2]!.at - calls[1]!.at;
      assert.ok(gap1 >= 55, `first retry after ${gap1} ms (60 scaled)`);
      assert.ok(gap2 >= 115, `second retry after ${gap2} ms (120 scaled)`);
      const [failed] = await h.queue.listFailed('fn', { limit: 10 });
      assert.equal(failed!.condition, 'RetriesExhausted');
      assert.equal(failed!.errorType, 'Error');
      assert.equal(failed!.errorMessage, 'always');
      const record = JSON.parse(failed!.record);
      assert.equal(record.requestContext.approximateInvokeCount, 3);
      assert.equal(record.requestContext.condition, 'RetriesExhausted');
      assert.deepEqual(record.responseContext, { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' });
    } finally {
      await h.close();
    }
  });

  test('MaximumRetryAttempts 0 runs once; a later success stops the retries', async () => {
    const h = harness();
    try {
      h.invoker.define('none', () => functionError());
      h.setConfig({ functionName: 'none', maximumRetryAttempts: 0 });
      h.invoker.define('flaky', (_input, attempt) => (attempt === 1 ? functionError() : undefined));
      await h.queue.enqueue(ev('a', 'none'));
      await h.queue.enqueue(ev('b', 'flaky'));
      await until(async () => (await h.queue.stats('none')).failed === 1);
      await until(() => h.invoker.callsOf('b').length === 2);
      await until(async () => {
        const s = await h.queue.stats('flaky');
        return s.visible + s.inFlight + s.delayed === 0;
      });
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(h.invoker.callsOf('a').length, 1);
      assert.equal(h.invoker.callsOf('b').length, 2);
      assert.equal((await h.queue.stats('flaky')).failed, 0);
    } finally {
      await h.close();
    }
  });

  test('throttles and system errors back off exponentially and do not use up retries', async () => {
    const h = harness({ timeScale: 0.01 });
    try {
      h.invoker.define('fn', (_input, attempt) => {
        if (attempt <= 2) throw tooManyRequests('ConcurrentInvocationLimitExceeded');
        if (attempt === 3) throw serviceException('host went away');
        if (attempt <= 5) return functionError();
        return undefined;
      });
      const delays: number[] = [];
      const retry = h.queue.retry.bind(h.queue);
      h.queue.retry = (receipt, update) => {
        delays.push(update.delayMs);
        return retry(receipt, update);
      };
      await h.queue.enqueue(ev('r1'));
      await until(() => h.invoker.callsOf('r1').length === 6, 10_000, 'six attempts');
      await until(async () => {
        const s = await h.queue.stats();
        return s.visible + s.inFlight + s.delayed === 0;
      });
      const at = h.invoker.callsOf('r1').map((c) => c.at);
      const gaps = at.slice(1).map((t, i) => t - at[i]!);
      // 10, 20, 40 ms of backoff (1, 2, 4 s scaled), then 600 and 1200 ms (function-error retries).
      assert.deepEqual(delays, [10, 20, 40, 600, 1200]);
      assert.ok(gaps[0]! >= 8 && gaps[1]! >= 18 && gaps[2]! >= 38, `backoff gaps ${gaps.map((g) => g.toFixed(0)).join(', ')}`);
      assert.ok(gaps[3]! >= 590 && gaps[4]! >= 1190, `function-error retries after ${gaps[3]!.toFixed(0)} and ${gaps[4]!.toFixed(0)} ms`);
      assert.equal((await h.queue.stats()).failed, 0, 'two function errors are within MaximumRetryAttempts');
    } finally {
      await h.close();
    }
  });

  test('an event throttled past its maximum age ends as EventAgeExceeded', async () => {
    // Scale 0.01: a 120 s maximum age is 1.2 s, long enough that even a loaded
    // machine makes the first attempt before the event expires.
    const h = harness({ timeScale: 0.01 });
    try {
      h.invoker.define('fn', () => {
        throw tooManyRequests('ConcurrentInvocationLimitExceeded');
      });
      h.setConfig({ functionName: 'fn', maximumEventAgeInSeconds: 120 });
      await h.queue.enqueue(ev('r1'));
      await until(async () => (await h.queue.stats()).failed === 1, 20_000);
      const [failed] = await h.queue.listFailed('fn', { limit: 1 });
      assert.equal(failed!.condition, 'EventAgeExceeded');
      assert.equal(failed!.errorType, 'TooManyRequestsException');
      const record = JSON.parse(failed!.record);
      assert.equal(record.requestContext.condition, 'EventAgeExceeded');
      assert.equal('responseContext' in record, false, 'the function never answered');
      // Retried 10, 20, 40, 80 ... ms apart, stopping before 1.2 s of age: 2 to 8 attempts.
      const n = h.invoker.callsOf('r1').length;
      assert.ok(n >= 2 && n <= 8, `${n} attempts`);
    } finally {
      await h.close();
    }
  });

  test('a function with reserved concurrency 0 turns its events away at once: ZeroReservedConcurrency', async () => {
    const h = harness();
    try {
      h.invoker.define('off', () => {
        throw tooManyRequests('ReservedFunctionConcurrentInvocationLimitExceeded');
      });
      h.reserved.set('off', 0);
      h.invoker.define('dest');
      h.setConfig({ functionName: 'off', onFailure: 'arn:aws:lambda:us-east-1:000000000000:function:dest' });
      await h.queue.enqueue(ev('r0', 'off', { x: 1 }));
      const d = await until(() => h.invoker.calls.find((c) => c.functionName === 'dest'));
      const record = JSON.parse(d.payload);
      assert.deepEqual(record.requestContext, {
        requestId: 'r0',
        functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:off:$LATEST',
        condition: 'ZeroReservedConcurrency',
        approximateInvokeCount: 0,
      });
      assert.deepEqual(Object.keys(record), ['version', 'timestamp', 'requestContext', 'requestPayload']);
      assert.equal(h.invoker.callsOf('r0').length, 1, 'no retries');
    } finally {
      await h.close();
    }
  });

  test('an event already older than its maximum age is not invoked', async () => {
    const h = harness();
    try {
      h.invoker.define('fn');
      h.setConfig({ functionName: 'fn', maximumEventAgeInSeconds: 60 });
      await h.queue.enqueue({ ...ev('old'), enqueuedAt: Date.now() - 1000 });
      await until(async () => (await h.queue.stats()).failed === 1);
      assert.equal(h.invoker.calls.length, 0);
      const [failed] = await h.queue.listFailed('fn', { limit: 1 });
      assert.equal(JSON.parse(failed!.record).requestContext.approximateInvokeCount, 0);
    } finally {
      await h.close();
    }
  });

  test('an event for a function that is gone is kept as failed, not retried', async () => {
    const h = harness();
    try {
      await h.queue.enqueue(ev('r1', 'ghost'));
      await until(async () => (await h.queue.stats('ghost')).failed === 1);
      const [failed] = await h.queue.listFailed('ghost', { limit: 1 });
      assert.equal(failed!.errorType, 'ResourceNotFoundException');
    } finally {
      await h.close();
    }
  });

  test('on-success and on-failure destinations get the invocation record, enqueued to the destination function', async () => {
    const h = harness();
    try {
      h.invoker.define('src', (input) => (JSON.parse(input.payload.toString()).fail ? functionError('nope') : { payload: Buffer.from('{"answer":42}') }));
      h.invoker.define('ok-dest');
      h.invoker.define('bad-dest');
      h.setConfig({
        functionName: 'src',
        maximumRetryAttempts: 1,
        onSuccess: 'arn:aws:lambda:us-east-1:000000000000:function:ok-dest',
        onFailure: 'arn:aws:lambda:us-east-1:000000000000:function:bad-dest:7',
      });
      await h.queue.enqueue(ev('good', 'src', { fail: false }));
      await h.queue.enqueue(ev('bad', 'src', { fail: true }));
      const ok = await until(() => h.invoker.calls.find((c) => c.functionName === 'ok-dest'));
      const bad = await until(() => h.invoker.calls.find((c) => c.functionName === 'bad-dest'));
      assert.equal(bad.qualifier, '7');
      assert.notEqual(ok.requestId, 'good', 'a destination invoke is a new request');

      const okRecord = JSON.parse(ok.payload);
      assert.deepEqual(Object.keys(okRecord), ['version', 'timestamp', 'requestContext', 'requestPayload', 'responseContext', 'responsePayload']);
      assert.match(okRecord.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.deepEqual(
        { ...okRecord, timestamp: 'T' },
        {
          version: '1.0',
          timestamp: 'T',
          requestContext: {
            requestId: 'good',
            functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:src:$LATEST',
            condition: 'Success',
            approximateInvokeCount: 1,
          },
          requestPayload: { fail: false },
          responseContext: { statusCode: 200, executedVersion: '$LATEST' },
          responsePayload: { answer: 42 },
        },
      );
      const badRecord = JSON.parse(bad.payload);
      assert.deepEqual(
        { ...badRecord, timestamp: 'T' },
        {
          version: '1.0',
          timestamp: 'T',
          requestContext: {
            requestId: 'bad',
            functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:src:$LATEST',
            condition: 'RetriesExhausted',
            approximateInvokeCount: 2,
          },
          requestPayload: { fail: true },
          responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
          responsePayload: { errorType: 'Error', errorMessage: 'nope', trace: [] },
        },
      );
      assert.equal((await h.queue.stats()).failed, 0, 'a failure with a destination is not also kept');
    } finally {
      await h.close();
    }
  });

  test('a function gets at most its share of pollers; others are not starved', async () => {
    const h = harness({ maxPollers: 4, perFunctionMax: 2 });
    try {
      let releaseA!: () => void;
      const gate = new Promise<void>((r) => (releaseA = r));
      h.invoker.define('a', () => gate.then(() => undefined));
      h.invoker.define('b');
      for (let i = 0; i < 20; i++) await h.queue.enqueue(ev(`a${i}`, 'a'));
      for (let i = 0; i < 3; i++) await h.queue.enqueue(ev(`b${i}`, 'b'));
      await until(() => h.invoker.calls.filter((c) => c.functionName === 'b').length === 3, 5000, 'b to run beside a backlogged a');
      assert.equal(h.pool.stats().perFunction.a, 2);
      assert.ok(h.invoker.maxRunning <= 4);
      releaseA();
      await until(() => h.invoker.calls.filter((c) => c.functionName === 'a').length === 20, 5000);
      assert.ok(h.invoker.maxRunning <= 4);
    } finally {
      await h.close();
    }
  });

  test('concurrency follows the backlog, up to maxPollers', async () => {
    const h = harness({ maxPollers: 8, perFunctionMax: 8 });
    try {
      h.invoker.define('fn', () => new Promise((r) => setTimeout(() => r(undefined), 50)));
      await h.queue.enqueue(ev('one'));
      await until(() => h.invoker.calls.length === 1);
      assert.equal(h.invoker.maxRunning, 1);
      await Promise.all(Array.from({ length: 40 }, (_, i) => h.queue.enqueue(ev(`many-${i}`))));
      await until(() => h.invoker.calls.length === 41, 5000);
      assert.equal(h.invoker.maxRunning, 8);
    } finally {
      await h.close();
    }
  });

  test('one event is never run by two pollers at once, even when the invoke outlasts the first lease', async () => {
    const h = harness({ visibilityMs: 300, leaseMarginMs: -100_000, maxPollers: 8 });
    try {
      // A 1 s timeout with a negative margin leaves the lease at 300 ms: only the heartbeat keeps it.
      h.invoker.define('slow', () => new Promise((r) => setTimeout(() => r(undefined), 1200)), 1);
      for (let i = 0; i < 4; i++) await h.queue.enqueue(ev(`s${i}`, 'slow'));
      await until(() => h.invoker.calls.length >= 4);
      await until(async () => {
        const s = await h.queue.stats();
        return s.visible + s.inFlight + s.delayed === 0;
      }, 5000);
      assert.deepEqual(h.invoker.overlaps, []);
      assert.equal(h.invoker.calls.length, 4, 'no event was handed out again while it ran');
    } finally {
      await h.close();
    }
  });

  test('pollers are woken by an enqueue in this process, not by polling', async () => {
    const h = harness({ idlePollMs: 60_000 });
    try {
      h.invoker.define('fn');
      await h.queue.enqueue(ev('warm'));
      await until(() => h.invoker.calls.length === 1);
      await new Promise((r) => setTimeout(r, 50));
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        await h.queue.enqueue(ev(`e${i}`));
        const call = await until(() => h.invoker.calls.find((c) => c.requestId === `e${i}`), 30_000);
        latencies.push(call.at - t0);
      }
      latencies.sort((a, b) => a - b);
      // The idle poll is a minute away: anything near it would mean the wake-up was missed.
      assert.ok(latencies[10]! < 20_000, `median enqueue-to-invoke ${latencies[10]!.toFixed(2)} ms`);
    } finally {
      await h.close();
    }
  });

  test('stop() gives events still running back to the queue', async () => {
    const h = harness({ shutdownGraceMs: 50 });
    h.invoker.define('fn', () => new Promise(() => undefined)); // never answers
    await h.queue.enqueue(ev('stuck'));
    await until(() => h.invoker.calls.length === 1);
    await h.pool.stop();
    const s = await h.queue.stats();
    assert.equal(s.visible, 1, 'visible again at once');
    const [again] = await h.queue.receive({ max: 1, visibilityMs: 1000 });
    assert.equal(again!.requestId, 'stuck');
    assert.equal(again!.receiveCount, 1, 'the unfinished delivery does not count');
    await h.queue.close();
  });
});

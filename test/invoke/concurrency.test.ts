// Lambda's concurrency accounting (src/invoke/concurrency.ts), without sandboxes:
// reservations, provisioned concurrency and the unreserved pool they leave.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConcurrencyLedger, type ConcurrencyLimits } from '../../src/invoke/concurrency.js';

const limits = (reserved: Record<string, number>, provisioned: Record<string, number>): ConcurrencyLimits => ({
  reserved: new Map(Object.entries(reserved)),
  provisioned: new Map(Object.entries(provisioned)),
});

const reasonOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { fields?: { Reason?: string } }).fields?.Reason ?? String(err);
  }
};

test('a reservation caps its function and comes out of what the others share', () => {
  const ledger = new ConcurrencyLedger(10);
  const l = limits({ r: 3 }, {});
  assert.equal(ledger.unreservedPool(l), 7);
  for (let i = 0; i < 3; i++) ledger.acquire('r', l);
  assert.equal(reasonOf(() => ledger.acquire('r', l)), 'ReservedFunctionConcurrentInvocationLimitExceeded');
  for (let i = 0; i < 7; i++) ledger.acquire(`o${i}`, l);
  assert.equal(reasonOf(() => ledger.acquire('o', l)), 'ConcurrentInvocationLimitExceeded');
  assert.equal(ledger.total(), 10);
});

test("provisioned concurrency runs its function's first invokes and is kept from everyone else", () => {
  const ledger = new ConcurrencyLedger(10);
  const l = limits({}, { p: 4 });
  assert.equal(ledger.unreservedPool(l), 6);
  // p's first 4 run on its provisioned concurrency, leaving the pool whole.
  const p = [1, 2, 3, 4].map(() => ledger.acquire('p', l));
  const others = [1, 2, 3, 4, 5, 6].map(() => ledger.acquire('o', l));
  assert.equal(reasonOf(() => ledger.acquire('o', l)), 'ConcurrentInvocationLimitExceeded');
  // A 5th of p needs the pool, which is full.
  assert.equal(reasonOf(() => ledger.acquire('p', l)), 'ConcurrentInvocationLimitExceeded');
  others[0]!();
  const fifth = ledger.acquire('p', l); // from the pool now
  assert.equal(reasonOf(() => ledger.acquire('o', l)), 'ConcurrentInvocationLimitExceeded');
  // One of p's provisioned invokes ends: the next p takes that slot, not the pool.
  p[0]!();
  ledger.acquire('p', l);
  fifth();
  ledger.acquire('o', l);
  assert.equal(ledger.total(), 10);
});

test('provisioned concurrency of a function with a reservation counts within the reservation', () => {
  const ledger = new ConcurrencyLedger(10);
  const l = limits({ r: 3 }, { r: 2 });
  assert.equal(ledger.unreservedPool(l), 7);
  for (let i = 0; i < 3; i++) ledger.acquire('r', l);
  assert.equal(reasonOf(() => ledger.acquire('r', l)), 'ReservedFunctionConcurrentInvocationLimitExceeded');
});

test('a release counts once', () => {
  const ledger = new ConcurrencyLedger(2);
  const l = limits({}, {});
  const a = ledger.acquire('a', l);
  ledger.acquire('b', l);
  a();
  a();
  ledger.acquire('c', l);
  assert.equal(reasonOf(() => ledger.acquire('d', l)), 'ConcurrentInvocationLimitExceeded');
});

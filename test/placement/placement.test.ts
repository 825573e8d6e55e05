// The Placement Service's choices: spread one function over hosts, then
// prefer a host that has its code, then pack memory; drained, unavailable and
// full hosts get nothing; releases give the memory back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FunctionVersion } from '../../src/control/model.js';
import type { SandboxHandle } from '../../src/host/sandbox.js';
import { PlacementService, type PlacementHost } from '../../src/placement/placement.js';

class Host implements PlacementHost {
  readonly cached = new Set<string>();
  up = true;
  constructor(
    readonly id: string,
    readonly memoryMb: number,
  ) {}
  cachesCode(sha: string): boolean {
    return this.cached.has(sha);
  }
  available(): boolean {
    return this.up;
  }
  createSandbox(): Promise<SandboxHandle> {
    throw new Error('placement decisions only');
  }
}

const fn = (name: string, memorySize = 128, codeSha256 = `code-${name}`): FunctionVersion =>
  ({ functionName: name, version: '$LATEST', memorySize, codeSha256 }) as FunctionVersion;

const setup = (...sizes: number[]) => {
  const placement = new PlacementService();
  const hosts = sizes.map((mb, i) => new Host(`h${i}`, mb));
  for (const h of hosts) placement.register(h);
  return { placement, hosts };
};

test('sandboxes of one function spread over the hosts before any host gets a second, even one caching the code', () => {
  const { placement, hosts } = setup(1024, 1024, 1024);
  hosts[0]!.cached.add('code-f');
  const first = placement.place(fn('f'))!;
  assert.equal(first.host.id, 'h0'); // the code is there
  const ids = [first.host.id, placement.place(fn('f'))!.host.id, placement.place(fn('f'))!.host.id];
  assert.deepEqual([...ids].sort(), ['h0', 'h1', 'h2']);
  // The fourth goes back to the host with the code.
  assert.equal(placement.place(fn('f'))!.host.id, 'h0');
});

test('between hosts alike, the fuller one that fits is chosen (bin-packing); a full host is skipped', () => {
  const { placement } = setup(1024, 1024);
  const big = placement.place(fn('big', 768))!;
  // Another function: the host already holding 768 MB is fuller and still fits 256.
  assert.equal(placement.place(fn('small', 256))!.host.id, big.host.id);
  // Now that host is full: the next one goes to the other.
  assert.notEqual(placement.place(fn('other', 256))!.host.id, big.host.id);
});

test('no host with room: undefined; a release gives the memory back', () => {
  const { placement } = setup(256);
  const a = placement.place(fn('a', 256))!;
  assert.equal(placement.place(fn('b', 128)), undefined);
  a.release();
  a.release(); // twice is once
  assert.equal(placement.capacity()[0]!.reservedMb, 0);
  assert.ok(placement.place(fn('b', 128)));
});

test('drained and unavailable hosts get no new sandboxes; registering again clears the drain', () => {
  const { placement, hosts } = setup(1024, 1024, 1024);
  assert.equal(placement.drain('h0'), true);
  assert.equal(placement.drain('nope'), false);
  hosts[1]!.up = false;
  for (let i = 0; i < 5; i++) assert.equal(placement.place(fn(`f${i}`))!.host.id, 'h2');
  placement.register(hosts[0]!);
  assert.equal(placement.isDraining('h0'), false);
  hosts[2]!.up = false;
  assert.equal(placement.place(fn('g'))!.host.id, 'h0');
  placement.deregister('h0');
  assert.equal(placement.place(fn('h')), undefined);
});

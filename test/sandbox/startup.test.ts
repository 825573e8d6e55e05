// Start time (launch -> Ready) of the namespace driver beside the process driver,
// and what a sandbox costs beyond the runtime itself. Prints its figures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NamespaceDriver } from '../../src/sandbox/namespace-driver.js';
import { nftAvailable } from '../../src/sandbox/select.js';
import { ProcessDriver } from '../../src/sandbox/process-driver.js';
import type { SandboxDriver } from '../../src/sandbox/driver.js';
import { invoke, skipReason, start } from './helpers.js';

const skip = skipReason();
const FN = { 'index.mjs': 'export const handler = async () => "ok";' };

const rssKb = (pid: number): number => {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
};
const children = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function startTimes(driver: SandboxDriver, n: number, network?: 'default' | 'none'): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = await start(driver, FN, network ? { network } : {});
    out.push(s.startMs);
    assert.equal((await invoke(s, {})).body, 'ok');
    await s.close();
  }
  return out;
}

test('start time and per-sandbox overhead: namespace vs process', { skip }, async (t) => {
  const ns = new NamespaceDriver();
  const proc = new ProcessDriver();
  await startTimes(proc, 2);
  await startTimes(ns, 2, 'none');
  const p = median(await startTimes(proc, 9));
  const none = median(await startTimes(ns, 9, 'none'));
  const dflt = nftAvailable() ? median(await startTimes(ns, 9, 'default')) : NaN;
  t.diagnostic(`launch -> Ready (median of 9): process ${p.toFixed(1)} ms, namespace/none ${none.toFixed(1)} ms, namespace/default ${dflt.toFixed(1)} ms`);

  // Overhead: the jailer (outside) and pid 1 (inside) beside the agent.
  const s = await start(ns, FN, { network: nftAvailable() ? 'default' : 'none' });
  const jailer = s.proc.pid;
  const init = children(jailer)[0]!;
  const agent = children(init)[0]!;
  const extraKb = rssKb(jailer) + rssKb(init);
  const agentKb = rssKb(agent);
  const cg = s.proc.memory();
  t.diagnostic(`resident: jailer ${rssKb(jailer)} KB + init ${rssKb(init)} KB beside the agent's ${agentKb} KB; cgroup charge ${cg.currentMb} MB`);
  await s.close();
  assert.ok(extraKb < 8 * 1024, `jailer + init use ${extraKb} KB`);
});

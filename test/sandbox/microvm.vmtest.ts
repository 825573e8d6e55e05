// The microvm driver against escapes and faults (`npm run test:microvm`, a
// separate, slower target: every sandbox is a QEMU VM, software-emulated where
// KVM cannot boot the guest). Each attempt fails inside its VM, and a
// neighbouring VM running at the same time is unaffected.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MicrovmDriver, microvmUnavailable } from '../../src/sandbox/microvm/driver.js';
import { MICROVM_TEST_DIR, invoke, start, type Started } from './helpers.js';
import { PROBE } from './probe.js';
import { checkExitAndSignal, checkPrivilegedCallsRefused, checkPythonAndProvided, checkTmpCapped, checkWritesOutsideTmpRefused, hostSecrets, probeAndNeighbour, type HostSecrets } from './checks.js';

const skip = microvmUnavailable();

function qemuPids(): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('\0kindling-sandbox-');
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('microvm sandbox: isolation', { skip }, () => {
  const driver = new MicrovmDriver({ baseDir: MICROVM_TEST_DIR });
  let probe: Started;
  let neighbour: Started;
  let host: HostSecrets;
  let dataDir: string;
  let hostPort: number;

  before(async () => {
    await driver.cleanup();
    host = await hostSecrets();
    ({ dataDir, hostPort } = host);
    ({ probe, neighbour } = await probeAndNeighbour(driver, 128));
  });

  after(async () => {
    // The neighbour lived through everything the probe tried.
    assert.equal((await invoke(neighbour, { action: 'ping' })).body, 'pong');
    await Promise.all([probe?.close(), neighbour?.close()]);
    host?.close();
  });

  test('runs in its own kernel as an unprivileged user with no capabilities, no_new_privs and seccomp', async () => {
    const { body } = await invoke(probe, { action: 'whoami' });
    assert.equal(body.uid, 993);
    assert.equal(body.gid, 993);
    assert.deepEqual(body.groups, [993]);
    assert.equal(body.capEff, '0000000000000000');
    assert.equal(body.noNewPrivs, '1');
    assert.equal(body.seccomp, '2');
    assert.equal(body.nofile, '1024');
    assert.deepEqual(body.task, ['index.mjs']);
    assert.equal((await invoke(probe, { action: 'read', path: '/proc/1/comm' })).body.value, 'kindling-vminit\n');
  });

  test("sees only its own VM's processes", async () => {
    const { body } = await invoke(probe, { action: 'whoami' });
    let seen = '';
    for (const p of body.pids as string[]) seen += `${(await invoke(probe, { action: 'read', path: `/proc/${p}/cmdline` })).body.value ?? ''}\n`;
    assert.ok(!seen.includes('qemu-system'), 'the host\'s QEMU is visible');
    assert.ok(!seen.includes('kindling.js'), 'the host\'s Kindling is visible');
    assert.ok(!seen.includes('neighbour-secret'), 'the neighbour is visible');
  });

  test("cannot read the host's secrets, Kindling's data folder or another function's code", async () => {
    for (const p of ['/etc/shadow', '/etc/gshadow', path.join(dataDir, 'root-key.json'), path.join(neighbour.taskRoot, 'neighbour-secret.txt'), '/root/.bashrc', '/var/task/../../etc/shadow', '/var/task/neighbour-secret.txt']) {
      const r = await invoke(probe, { action: 'read', path: p });
      assert.equal(r.body.ok, false, p);
      assert.ok(['ENOENT', 'EACCES'].includes(r.body.code), `${p}: ${r.body.code}`);
    }
    assert.deepEqual((await invoke(probe, { action: 'ls', path: '/tmp' })).body.value, []);
  });

  test('cannot write outside /tmp', () => checkWritesOutsideTmpRefused(probe));

  test("has no network to the host, Kindling's port or another VM", async () => {
    const { body } = await invoke(probe, { action: 'whoami' });
    assert.deepEqual(Object.keys(body.ifaces), ['lo']);
    // 127.0.0.1 is the VM's own loopback: nothing of the host's listens there.
    assert.deepEqual((await invoke(probe, { action: 'connect', host: '127.0.0.1', port: hostPort })).body, { ok: false, code: 'ECONNREFUSED' });
    for (const host of ['10.0.2.2', '192.168.0.1', '198.18.0.1']) {
      const r = await invoke(probe, { action: 'connect', host, port: hostPort, timeoutMs: 700 });
      assert.equal(r.body.ok, false, `${host} reachable`);
    }
  });

  test('refuses ptrace, mount, modules, namespaces, bpf, keyrings and raw sockets (EPERM)', () => checkPrivilegedCallsRefused(probe));

  test('filling /tmp stops at its size (ENOSPC)', () => checkTmpCapped(probe));

  test('every VM restored from one snapshot has its own randomness and the host\'s clock', async () => {
    const code = 'export const handler = async () => ({ r: Math.random(), u: crypto.randomUUID(), now: Date.now() });';
    const [a, b] = await Promise.all([start(driver, { 'index.mjs': code }, { memoryMb: 128 }), start(driver, { 'index.mjs': code }, { memoryMb: 128 })]);
    try {
      const [ra, rb] = [(await invoke(a, {})).body, (await invoke(b, {})).body];
      assert.notEqual(ra.r, rb.r);
      assert.notEqual(ra.u, rb.u);
      for (const r of [ra, rb]) assert.ok(Math.abs(r.now - Date.now()) < 5000, `guest clock off by ${r.now - Date.now()} ms`);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('microvm sandbox: faults', { skip }, () => {
  const driver = new MicrovmDriver({ baseDir: MICROVM_TEST_DIR });

  test('a fork bomb stays inside its VM; the host and a neighbour are fine', async () => {
    const [bomb, neighbour] = await Promise.all([start(driver, { 'index.mjs': PROBE }, { memoryMb: 128, timeoutSeconds: 30 }), start(driver, { 'index.mjs': PROBE }, { memoryMb: 128 })]);
    try {
      const r = await invoke(bomb, { action: 'forkbomb' });
      // RLIMIT_NPROC stops it (EAGAIN), unless the VM's memory runs out first or, software-emulated,
      // its timeout comes before 1024 forks: each ends the invoke with Lambda's error, inside the VM.
      if (r.errorType === undefined) {
        assert.equal(r.body.errno, 11, r.text);
        assert.ok(r.body.forked < 1024, `forked ${r.body.forked}`);
      } else {
        assert.ok(['Runtime.OutOfMemory', 'Runtime.ExitError', 'Sandbox.Timedout'].includes(r.errorType), r.text);
      }
      execFileSync('/bin/true');
      assert.equal((await invoke(neighbour, { action: 'ping' })).body, 'pong');
    } finally {
      await Promise.all([bomb.close(), neighbour.close()]);
    }
  });

  test('allocating past MemorySize is an out-of-memory kill (Runtime.OutOfMemory)', async () => {
    const [hog, neighbour] = await Promise.all([start(driver, { 'index.mjs': PROBE }, { memoryMb: 128 }), start(driver, { 'index.mjs': PROBE }, { memoryMb: 128 })]);
    try {
      const r = await invoke(hog, { action: 'alloc' });
      assert.equal(r.errorType, 'Runtime.OutOfMemory', r.text);
      assert.match(r.body.errorMessage, /signal: killed/);
      assert.equal(hog.proc.oomKilled(), true);
      assert.equal((await invoke(neighbour, { action: 'ping' })).body, 'pong');
      assert.equal(neighbour.proc.oomKilled(), false);
    } finally {
      await Promise.all([hog.close(), neighbour.close()]);
    }
  });

  test('spinning past the timeout ends in Sandbox.Timedout and the VM is stopped', async () => {
    const s = await start(driver, { 'index.mjs': 'export const handler = async () => { for (;;); };' }, { memoryMb: 128, timeoutSeconds: 2 });
    try {
      const r = await invoke(s, {});
      assert.equal(r.errorType, 'Sandbox.Timedout', r.text);
      assert.match(r.body.errorMessage, /Task timed out after 2\.00 seconds/);
      await s.proc.exited;
    } finally {
      await s.close();
    }
  });

  test('exit status and signals come through as they were', () => checkExitAndSignal(driver, 128));

  test('python and provided runtimes work inside (Runtime API on 127.0.0.1:9001)', () => checkPythonAndProvided(driver, 128));

  test('large packages and nested folders arrive whole', async () => {
    const big = Buffer.alloc(9 * 1024 * 1024 + 123);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    const files: Record<string, string> = {
      'index.mjs': "import { readFileSync } from 'node:fs'; import { createHash } from 'node:crypto';\nexport const handler = async () => ({ big: createHash('sha256').update(readFileSync('/var/task/data/big.bin')).digest('hex'), nested: readFileSync('/var/task/a/b/c/d.txt', 'utf8') });",
      'a/b/c/d.txt': 'deep',
      'data/big.bin': big.toString('latin1'),
    };
    const s = await start(driver, files, { memoryMb: 128 });
    try {
      const r = await invoke(s, {});
      const { createHash } = await import('node:crypto');
      assert.equal(r.body.big, createHash('sha256').update(readFileSync(path.join(s.taskRoot, 'data/big.bin'))).digest('hex'));
      assert.equal(r.body.nested, 'deep');
    } finally {
      await s.close();
    }
  });
});

describe('microvm sandbox: cleanup', { skip }, () => {
  test('nothing is left after a sandbox ends', async () => {
    const driver = new MicrovmDriver({ baseDir: MICROVM_TEST_DIR });
    const runDirs = () => readdirSync(path.join(tmpdir(), 'kindling-vm', String(process.pid)));
    const s = await start(driver, { 'index.mjs': PROBE }, { memoryMb: 128 });
    const pid = s.proc.pid;
    const dirs = runDirs().length;
    assert.ok(qemuPids().includes(pid));
    await s.close();
    assert.ok(!qemuPids().includes(pid));
    assert.equal(runDirs().length, dirs - 1);
  });

  test('a SIGKILLed Kindling leaves no VM running after cleanup()', async () => {
    // A child process launches a VM and is killed with SIGKILL: its QEMU lingers until cleanup().
    const helpers = fileURLToPath(new URL('./helpers.js', import.meta.url));
    const driverJs = fileURLToPath(new URL('../../src/sandbox/microvm/driver.js', import.meta.url));
    const script = `
      const { MicrovmDriver } = await import(${JSON.stringify(driverJs)});
      const { start } = await import(${JSON.stringify(helpers)});
      const d = new MicrovmDriver({ baseDir: ${JSON.stringify(MICROVM_TEST_DIR)} });
      const s = await start(d, { 'index.mjs': 'export const handler = async () => 1;' }, { memoryMb: 128 });
      console.log('vm ' + s.proc.pid);
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const vmPid = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /vm (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`child exited ${code}: ${out}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.ok(qemuPids().includes(vmPid), 'the VM should outlive a SIGKILLed parent until cleanup');
    await new MicrovmDriver({ baseDir: MICROVM_TEST_DIR }).cleanup();
    for (let i = 0; i < 100 && qemuPids().includes(vmPid); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!qemuPids().includes(vmPid));
    assert.ok(!readdirSync(path.join(tmpdir(), 'kindling-vm')).includes(String(child.pid)));
  });
});

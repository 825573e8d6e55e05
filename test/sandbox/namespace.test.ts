// The namespace driver against escapes and faults: each attempt fails inside
// its sandbox, and a neighbouring sandbox running at the same time is unaffected.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { cgroupDirs } from '../../src/sandbox/cgroup.js';
import { NamespaceDriver } from '../../src/sandbox/namespace-driver.js';
import { nftAvailable } from '../../src/sandbox/select.js';
import { invoke, skipReason, start, type Started } from './helpers.js';
import { PROBE } from './probe.js';
import { checkExitAndSignal, checkPrivilegedCallsRefused, checkPythonAndProvided, checkTmpCapped, checkWritesOutsideTmpRefused, hostSecrets, probeAndNeighbour, type HostSecrets } from './checks.js';

const skip = skipReason();
const skipNet = skip ?? (nftAvailable() ? undefined : 'nft is not installed (apt-get install nftables)');

// Pooled: a generic sandbox started before its code, which the jailer's attach helper mounts in later.
for (const pooled of [false, true]) describe(`namespace sandbox: isolation${pooled ? ', pooled (code attached after launch)' : ''}`, { skip: skipNet }, () => {
  const driver = new NamespaceDriver({ defaultNetwork: 'default' });
  let probe: Started;
  let neighbour: Started;
  let host: HostSecrets;
  let dataDir: string;
  let hostPort: number;

  before(async () => {
    await driver.cleanup();
    host = await hostSecrets();
    ({ dataDir, hostPort } = host);
    ({ probe, neighbour } = await probeAndNeighbour(driver, undefined, pooled));
  });

  after(async () => {
    // The neighbour lived through everything the probe tried.
    assert.equal((await invoke(neighbour, { action: 'ping' })).body, 'pong');
    await Promise.all([probe?.close(), neighbour?.close()]);
    host?.close();
  });

  test('runs as an unprivileged user with no capabilities, no_new_privs and seccomp', async () => {
    const { body } = await invoke(probe, { action: 'whoami' });
    assert.equal(body.uid, 993);
    assert.equal(body.gid, 993);
    assert.deepEqual(body.groups, [993]);
    assert.equal(body.capEff, '0000000000000000');
    assert.equal(body.capBnd, '0000000000000000');
    assert.equal(body.noNewPrivs, '1');
    assert.equal(body.seccomp, '2');
    assert.equal(body.nofile, '1024');
    assert.deepEqual(body.root, ['bin', 'dev', 'etc', 'lib', 'lib64', 'opt', 'proc', 'sbin', 'tmp', 'usr', 'var']);
    assert.deepEqual(body.task, ['index.mjs']);
  });

  test("sees only its own processes in /proc", async () => {
    const { body } = await invoke(probe, { action: 'whoami' });
    // pid 1 (the jailer's init), the agent, and the shell it ran for ulimit at most.
    assert.ok(body.pids.length <= 3, `pids: ${body.pids}`);
    assert.ok(body.pids.includes('1'));
    assert.ok(!body.pids.includes(String(process.pid)));
    const r = await invoke(probe, { action: 'read', path: `/proc/${neighbour.proc.pid}/environ` });
    assert.equal(r.body.ok, false);
  });

  test("cannot read the host's secrets, Kindling's data folder or another function's code", async () => {
    for (const p of ['/etc/shadow', '/etc/gshadow', path.join(dataDir, 'root-key.json'), path.join(neighbour.taskRoot, 'neighbour-secret.txt'), '/root/.bashrc', '/var/task/../../etc/shadow']) {
      const r = await invoke(probe, { action: 'read', path: p });
      assert.deepEqual(r.body, { ok: false, code: 'ENOENT' }, p);
    }
    assert.equal((await invoke(probe, { action: 'ls', path: tmpdir() })).body.ok, true); // its own /tmp, empty
    assert.deepEqual((await invoke(probe, { action: 'ls', path: tmpdir() })).body.value, []);
    const passwd = await invoke(probe, { action: 'read', path: '/etc/passwd' });
    assert.ok(!passwd.body.value.includes(`root:x:0:0:root:/root:/bin/bash`));
  });

  test('cannot write outside /tmp', () => checkWritesOutsideTmpRefused(probe));

  test('its code folder is a read-only mount that receives nothing from the host', async () => {
    const r = await invoke(probe, { action: 'read', path: '/proc/self/mountinfo' });
    const line = (r.body.value as string).split('\n').find((l) => l.split(' ')[4] === '/var/task');
    assert.ok(line, 'no /var/task mount');
    const [fields] = line.split(' - ');
    assert.ok(fields!.split(' ')[5]!.split(',').includes('ro'), line);
    assert.ok(!/ (shared|master):/.test(fields!), `propagates: ${line}`);
  });

  test("cannot reach the host's loopback, the host's own addresses or another sandbox", async () => {
    // 127.0.0.1 is the sandbox's own loopback: nothing of the host's listens there.
    assert.deepEqual((await invoke(probe, { action: 'connect', host: '127.0.0.1', port: hostPort })).body, { ok: false, code: 'ECONNREFUSED' });
    const hostAddrs = Object.entries(networkInterfaces())
      .filter(([name]) => !name.startsWith('kx'))
      .flatMap(([, a]) => a ?? [])
      .filter((a) => a.family === 'IPv4' && !a.internal)
      .map((a) => a.address);
    const me = (await invoke(probe, { action: 'whoami' })).body;
    const gateway = me.ifaces.eth0[0].replace(/\d+$/, (d: string) => String(Number(d) - 1));
    for (const host of [...hostAddrs, gateway]) {
      const r = await invoke(probe, { action: 'connect', host, port: hostPort, timeoutMs: 700 });
      assert.equal(r.body.ok, false, `${host}:${hostPort} reachable`);
    }
    await invoke(neighbour, { action: 'listen', port: 8080 });
    const theirs = (await invoke(neighbour, { action: 'whoami' })).body.ifaces.eth0[0];
    assert.equal((await invoke(probe, { action: 'connect', host: theirs, port: 8080, timeoutMs: 700 })).body.ok, false);
  });

  test('refuses ptrace, mount, modules, namespaces, bpf, keyrings and raw sockets (EPERM)', { skip: process.arch !== 'x64' ? 'syscall numbers are x86_64' : undefined }, () => checkPrivilegedCallsRefused(probe));

  test('filling /tmp stops at its size (ENOSPC)', () => checkTmpCapped(probe));
});

describe('namespace sandbox: faults', { skip }, () => {
  const driver = new NamespaceDriver({ defaultNetwork: 'none' });

  test('a fork bomb stops at pids.max and the host and a neighbour are fine', async () => {
    const [bomb, neighbour] = await Promise.all([start(driver, { 'index.mjs': PROBE }, { memoryMb: 1024 }), start(driver, { 'index.mjs': PROBE })]);
    try {
      const { body } = await invoke(bomb, { action: 'forkbomb' });
      assert.equal(body.errno, 11); // EAGAIN
      assert.ok(body.forked < 1024, `forked ${body.forked}`);
      execFileSync('/bin/true'); // the host still starts processes
      assert.equal((await invoke(neighbour, { action: 'ping' })).body, 'pong');
    } finally {
      await Promise.all([bomb.close(), neighbour.close()]);
    }
  });

  test('allocating past MemorySize is an out-of-memory kill (Runtime.OutOfMemory)', async () => {
    const [hog, neighbour] = await Promise.all([start(driver, { 'index.mjs': PROBE }, { memoryMb: 128 }), start(driver, { 'index.mjs': PROBE })]);
    try {
      const r = await invoke(hog, { action: 'alloc' });
      assert.equal(r.errorType, 'Runtime.OutOfMemory', r.text);
      assert.match(r.body.errorMessage, /signal: killed/);
      assert.equal(hog.proc.oomKilled(), true);
      assert.ok(hog.proc.memory().peakMb >= 120, `peak ${hog.proc.memory().peakMb}`);
      // The REPORT line's one-read peak says the same, after the kill and on a live sandbox.
      assert.ok(hog.proc.peakMemoryMb!() >= 120, `peak ${hog.proc.peakMemoryMb!()}`);
      assert.equal((await invoke(neighbour, { action: 'ping' })).body, 'pong');
      const livePeak = neighbour.proc.peakMemoryMb!();
      assert.ok(livePeak > 0 && livePeak <= 128, `peak ${livePeak}`);
      assert.equal(livePeak, neighbour.proc.memory().peakMb);
      assert.equal(neighbour.proc.oomKilled(), false);
    } finally {
      await Promise.all([hog.close(), neighbour.close()]);
    }
  });

  test('exit status and signals come through as they were', () => checkExitAndSignal(driver));

  test("with network 'none' only loopback exists", async () => {
    const s = await start(driver, { 'index.mjs': PROBE });
    try {
      const { body } = await invoke(s, { action: 'whoami' });
      assert.deepEqual(Object.keys(body.ifaces), ['lo']);
      const r = await invoke(s, { action: 'connect', host: '198.18.0.1', port: 80, timeoutMs: 700 });
      assert.equal(r.body.ok, false);
    } finally {
      await s.close();
    }
  });

  test('python and provided runtimes work inside (Runtime API on 127.0.0.1:9001)', () => checkPythonAndProvided(driver));
});

describe('namespace sandbox: outbound network', { skip: skipNet }, () => {
  // A stand-in for the internet: a server in a network namespace of its own,
  // reached through the host on a non-private address (198.18.0.0/15, for tests).
  const ns = `kindling-test-out-${process.pid}`;
  const link = `kto${process.pid % 100000}`;
  const third = process.pid % 250;
  const outside = `198.18.${third}.2`;
  let server: ChildProcess | undefined;
  const driver = new NamespaceDriver();

  before(async () => {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    execFileSync('ip', ['addr', 'add', `198.18.${third}.1/30`, 'dev', link]);
    execFileSync('ip', ['link', 'set', link, 'up']);
    execFileSync('ip', ['-n', ns, 'addr', 'add', `${outside}/30`, 'dev', 'eth0']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['-n', ns, 'route', 'add', 'default', 'via', `198.18.${third}.1`]);
    server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', `require('net').createServer((c) => c.end('from outside ' + c.remoteAddress)).listen(8443, '0.0.0.0', () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => server!.stdout!.once('data', r));
  });

  after(() => {
    server?.kill('SIGKILL');
    try {
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      // gone
    }
  });

  test('reaches the outside through NAT; with network none it cannot', async () => {
    const on = await start(driver, { 'index.mjs': PROBE });
    const off = await start(driver, { 'index.mjs': PROBE }, { network: 'none' });
    try {
      const r = await invoke(on, { action: 'connect', host: outside, port: 8443 });
      assert.equal(r.body.ok, true, JSON.stringify(r.body));
      assert.equal(r.body.data, `from outside 198.18.${third}.1`); // masqueraded as the host
      assert.equal((await invoke(off, { action: 'connect', host: outside, port: 8443, timeoutMs: 700 })).body.ok, false);
    } finally {
      await Promise.all([on.close(), off.close()]);
    }
  });
});

describe('namespace sandbox: cleanup', { skip }, () => {
  const driver = new NamespaceDriver({ defaultNetwork: skipNet ? 'none' : 'default' });

  test('nothing is left after a sandbox ends', async () => {
    const s = await start(driver, { 'index.mjs': PROBE });
    const name = `${process.pid}-${(s.sandbox.identity.id)}`;
    assert.ok(cgroupDirs(name).every((d) => existsSync(d)));
    if (!skipNet) assert.ok(readdirSync('/sys/class/net').some((n) => /^kx\d+$/.test(n)));
    await s.close();
    for (let i = 0; i < 50 && cgroupDirs(name).some((d) => existsSync(d)); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(cgroupDirs(name).every((d) => !existsSync(d)), 'cgroup left behind');
  });

  test('a SIGKILLed Kindling leaves no sandbox running, and cleanup() removes what is left', async () => {
    const script = `
      import { NamespaceDriver } from ${JSON.stringify(new URL('../../src/sandbox/namespace-driver.js', import.meta.url).href)};
      const d = new NamespaceDriver({ defaultNetwork: 'none' });
      const p = await d.launch({ id: 'orphan', memoryMb: 128, ephemeralStorageMb: 16, taskRoot: '/usr/share', nodeFlags: [] });
      console.log(p.pid);
      setInterval(() => {}, 1000);`;
    const dir = mkdtempSync(path.join(tmpdir(), 'kindling-kill-'));
    writeFileSync(path.join(dir, 'k.mjs'), script);
    const k = spawn(process.execPath, [path.join(dir, 'k.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const jailerPid = Number(await new Promise<string>((r) => k.stdout!.once('data', (d: Buffer) => r(d.toString()))));
    await new Promise((r) => setTimeout(r, 300));
    const name = `${k.pid}-orphan`;
    assert.ok(cgroupDirs(name).every((d) => existsSync(d)));
    k.kill('SIGKILL');
    // Gone, or a zombie waiting for whoever inherited it.
    const gone = (pid: number) => {
      try {
        return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
      } catch {
        return true;
      }
    };
    for (let i = 0; i < 250 && !(gone(jailerPid) && cgroupDirs(name).every((d) => !existsSync(d))); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(gone(jailerPid), 'the jailer outlived Kindling');
    assert.ok(cgroupDirs(name).every((d) => !existsSync(d)), 'the jailer left its cgroup');
    // A leftover as a crash in the middle of a launch would leave it: cleanup() takes it.
    const leftover = '999999999-leftover';
    for (const d of cgroupDirs(leftover)) mkdirSync(d, { recursive: true });
    await driver.cleanup();
    assert.ok(cgroupDirs(leftover).every((d) => !existsSync(d)));
    rmSync(dir, { recursive: true, force: true });
  });
});

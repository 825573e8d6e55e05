// What the namespace and microvm escape suites both check, written once: the
// host-side secrets a probe must not reach, and the attempts whose outcome is
// the same whichever driver isolates the function.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SandboxDriver } from '../../src/sandbox/driver.js';
import { invoke, start, type Started } from './helpers.js';
import { PROBE } from './probe.js';

export interface HostSecrets {
  /** A stand-in for Kindling's data folder, with a root key in it. */
  dataDir: string;
  /** A host service on every address, which no sandbox may reach. */
  hostPort: number;
  close(): void;
}

export async function hostSecrets(): Promise<HostSecrets> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'kindling-data-'));
  writeFileSync(path.join(dataDir, 'root-key.json'), '{"secret":"host"}');
  const server = net.createServer((c) => c.end('host-secret'));
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', () => r()));
  return {
    dataDir,
    hostPort: (server.address() as net.AddressInfo).port,
    close() {
      server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A probe and a neighbour with a secret of its own; the neighbour answers before and after. */
export async function probeAndNeighbour(driver: SandboxDriver, memoryMb?: number, pooled = false): Promise<{ probe: Started; neighbour: Started }> {
  const opts = { ...(memoryMb !== undefined ? { memoryMb } : {}), pooled };
  const [probe, neighbour] = await Promise.all([start(driver, { 'index.mjs': PROBE }, opts), start(driver, { 'index.mjs': PROBE, 'neighbour-secret.txt': 'mine' }, opts)]);
  assert.equal((await invoke(neighbour, { action: 'ping' })).body, 'pong');
  return { probe, neighbour };
}

export async function checkWritesOutsideTmpRefused(probe: Started): Promise<void> {
  for (const p of ['/var/task/x', '/usr/x', '/etc/passwd', '/x', '/var/runtime/agent.js', '/opt/x', '/dev/x']) {
    const r = await invoke(probe, { action: 'write', path: p });
    assert.equal(r.body.ok, false, p);
    assert.ok(['EROFS', 'EACCES'].includes(r.body.code), `${p}: ${r.body.code}`);
  }
  assert.equal((await invoke(probe, { action: 'write', path: '/tmp/x' })).body.ok, true);
}

const EPERM = 1;

export async function checkPrivilegedCallsRefused(probe: Started): Promise<void> {
  const { body } = await invoke(probe, { action: 'syscalls' });
  for (const k of ['ptrace', 'mount', 'umount2', 'init_module', 'finit_module', 'unshare_user', 'clone_newuser', 'bpf', 'keyctl', 'setns', 'kexec_load', 'chroot', 'setuid0', 'packet', 'raw4', 'raw6']) {
    assert.equal(body[k], EPERM, `${k}: errno ${body[k]}`);
  }
  assert.equal(body.tcp, 0);
}

export async function checkTmpCapped(probe: Started): Promise<void> {
  const { body } = await invoke(probe, { action: 'fillTmp' });
  assert.equal(body.code, 'ENOSPC');
  assert.ok(body.mb >= 60 && body.mb <= 64, `wrote ${body.mb} MB`);
}

export async function checkExitAndSignal(driver: SandboxDriver, memoryMb?: number): Promise<void> {
  const opts = memoryMb !== undefined ? { memoryMb } : {};
  const [a, b] = await Promise.all([start(driver, { 'index.mjs': PROBE }, opts), start(driver, { 'index.mjs': PROBE }, opts)]);
  try {
    const ra = await invoke(a, { action: 'exit', code: 3 });
    assert.equal(ra.errorType, 'Runtime.ExitError');
    assert.match(ra.body.errorMessage, /exit status 3/);
    const rb = await invoke(b, { action: 'signal', signal: 'SIGKILL' });
    assert.equal(rb.errorType, 'Runtime.ExitError');
    assert.match(rb.body.errorMessage, /signal: killed/);
    assert.deepEqual(await b.proc.exited, { code: null, signal: 'SIGKILL' });
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

const PY_APP = 'import os\ndef handler(event, context):\n    return {"uid": os.getuid(), "api": os.environ["AWS_LAMBDA_RUNTIME_API"], "py": __file__}\n';
const SHELL_BOOTSTRAP =
  '#!/bin/sh\nset -e\nwhile true; do\n  E=$(python3 -c "import urllib.request,sys;r=urllib.request.urlopen(\'http://\'+sys.argv[1]+\'/2018-06-01/runtime/invocation/next\');print(r.headers[\'Lambda-Runtime-Aws-Request-Id\'])" "$AWS_LAMBDA_RUNTIME_API")\n  python3 -c "import urllib.request,sys;urllib.request.urlopen(urllib.request.Request(\'http://\'+sys.argv[1]+\'/2018-06-01/runtime/invocation/\'+sys.argv[2]+\'/response\',data=b\'\\"provided\\"\',method=\'POST\'))" "$AWS_LAMBDA_RUNTIME_API" "$E"\ndone\n';

export async function checkPythonAndProvided(driver: SandboxDriver, memoryMb?: number): Promise<void> {
  const mem = memoryMb !== undefined ? { memoryMb } : {};
  const py = await start(driver, { 'app.py': PY_APP }, { family: 'python', handler: 'app.handler', ...mem });
  const sh = await start(driver, { bootstrap: SHELL_BOOTSTRAP }, { family: 'provided', handler: 'x', ...mem });
  try {
    const r = await invoke(py, {});
    assert.equal(r.body.uid, 993, r.text);
    assert.equal(r.body.api, '127.0.0.1:9001');
    assert.equal(r.body.py, '/var/task/app.py');
    assert.equal((await invoke(sh, {})).body, 'provided');
  } finally {
    await Promise.all([py.close(), sh.close()]);
  }
}

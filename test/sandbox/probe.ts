// The function the escape tests run inside sandboxes: one action per attempt.
export const PROBE = String.raw`
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { execFileSync, spawnSync } from 'node:child_process';

const code = (fn) => { try { const v = fn(); return { ok: true, value: v }; } catch (e) { return { ok: false, code: e.code ?? e.message }; } };

function connect(host, port, timeoutMs = 1500) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => { s.destroy(); resolve({ ok: false, code: 'TIMEOUT' }); }, timeoutMs);
    s.once('connect', () => { clearTimeout(t); let data = ''; s.on('data', (d) => (data += d)); s.on('end', () => resolve({ ok: true, data })); s.on('error', () => resolve({ ok: true, data })); });
    s.once('error', (e) => { clearTimeout(t); resolve({ ok: false, code: e.code }); });
  });
}

const PY_SYSCALLS = [
  'import ctypes, json, socket',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'def sc(nr, *a):',
  '    r = libc.syscall(nr, *a)',
  '    return 0 if r >= 0 else ctypes.get_errno()',
  'res = {}',
  'res["ptrace"] = sc(101, 0, 0, 0, 0)',
  'res["mount"] = sc(165, b"none", b"/tmp", b"tmpfs", 0, 0)',
  'res["umount2"] = sc(166, b"/proc", 2)',
  'res["init_module"] = sc(175, 0, 0, b"")',
  'res["finit_module"] = sc(313, 0, b"", 0)',
  'res["unshare_user"] = sc(272, 0x10000000)',
  'res["clone_newuser"] = sc(56, 0x10000000 | 17, 0, 0, 0, 0)',
  'res["bpf"] = sc(321, 0, 0, 0)',
  'res["keyctl"] = sc(250, 0, 0, 0, 0, 0)',
  'res["setns"] = sc(308, 0, 0)',
  'res["kexec_load"] = sc(246, 0, 0, 0, 0)',
  'res["chroot"] = sc(161, b"/tmp")',
  'res["setuid0"] = sc(105, 0)',
  'for name, fam, typ in [("packet", 17, 3), ("raw4", 2, 3), ("raw6", 10, 3)]:',
  '    try:',
  '        socket.socket(fam, typ, 1).close(); res[name] = 0',
  '    except OSError as e:',
  '        res[name] = e.errno',
  'socket.socket(socket.AF_INET, socket.SOCK_STREAM).close(); res["tcp"] = 0',
  'print(json.dumps(res))',
].join('\n');

const PY_FORK = [
  'import os, time, json, errno',
  'pids = []; err = None',
  'while len(pids) < 5000:',
  '    try:',
  '        p = os.fork()',
  '    except OSError as e:',
  '        err = e.errno; break',
  '    if p == 0:',
  '        time.sleep(3); os._exit(0)',
  '    pids.append(p)',
  'for p in pids: os.kill(p, 9)',
  'for p in pids: os.waitpid(p, 0)',
  'print(json.dumps({"forked": len(pids), "errno": err}))',
].join('\n');

export const handler = async (event) => {
  switch (event.action) {
    case 'whoami': {
      const status = fs.readFileSync('/proc/self/status', 'utf8');
      const field = (f) => new RegExp('^' + f + ':\\s*(.*)$', 'm').exec(status)?.[1];
      return { uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), capEff: field('CapEff'), capBnd: field('CapBnd'), noNewPrivs: field('NoNewPrivs'), seccomp: field('Seccomp'),
        nofile: spawnSync('/bin/sh', ['-c', 'ulimit -n']).stdout.toString().trim(), hostname: os.hostname(),
        pids: fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x)), root: fs.readdirSync('/').sort(), task: fs.readdirSync('/var/task').sort(),
        ifaces: Object.fromEntries(Object.entries(os.networkInterfaces()).map(([k, v]) => [k, v.map((a) => a.address)])) };
    }
    case 'read': return code(() => fs.readFileSync(event.path, 'utf8'));
    case 'ls': return code(() => fs.readdirSync(event.path));
    case 'write': return code(() => fs.writeFileSync(event.path, 'x'));
    case 'connect': return connect(event.host, event.port, event.timeoutMs);
    case 'fillTmp': {
      const chunk = Buffer.alloc(1 << 20, 7);
      let mb = 0;
      try { const fd = fs.openSync('/tmp/fill', 'w'); try { for (;;) { fs.writeSync(fd, chunk); mb++; } } finally { fs.closeSync(fd); } }
      catch (e) { fs.rmSync('/tmp/fill', { force: true }); return { mb, code: e.code }; }
    }
    case 'alloc': { const keep = []; for (;;) keep.push(Buffer.alloc(8 << 20, 1)); }
    case 'syscalls': return JSON.parse(execFileSync('/usr/bin/python3', ['-c', PY_SYSCALLS]).toString());
    case 'forkbomb': return JSON.parse(execFileSync('/usr/bin/python3', ['-c', PY_FORK]).toString());
    case 'exit': process.exit(event.code);
    case 'signal': process.kill(process.pid, event.signal);
    case 'listen': return new Promise((resolve) => { const srv = net.createServer((c) => c.end('neighbour')); srv.listen(event.port, '0.0.0.0', () => resolve({ listening: event.port })); globalThis.__srv = srv; });
    case 'ping': return 'pong';
    default: return { unknown: event.action };
  }
};
`;

// A QEMU Machine Protocol client: one JSON command at a time over QEMU's Unix
// socket, which is all snapshotting a VM takes (stop, migrate, query, quit).
import { connect, type Socket } from 'node:net';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

export class QmpClient {
  private buffer = '';
  private readonly queue: Pending[] = [];
  private greeted!: Promise<void>;
  private closedError: Error | undefined;

  private constructor(private readonly socket: Socket) {}

  /** Connects (retrying while QEMU creates the socket) and negotiates capabilities. */
  static async connect(path: string, timeoutMs = 10_000): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const client = new QmpClient(socket);
        client.listen();
        await client.greeted;
        await client.execute('qmp_capabilities');
        return client;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`QMP socket ${path}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  private listen(): void {
    let greet!: () => void;
    let fail!: (err: Error) => void;
    this.greeted = new Promise<void>((resolve, reject) => {
      greet = resolve;
      fail = reject;
    });
    let sawGreeting = false;
    this.socket.setEncoding('utf8');
    this.socket.on('data', (text: string) => {
      this.buffer += text;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (line === '') continue;
        const msg = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { class: string; desc: string }; event?: string };
        if (msg.QMP !== undefined && !sawGreeting) {
          sawGreeting = true;
          greet();
        } else if (msg.event !== undefined) {
          // Asynchronous events (STOP, RESUME, SHUTDOWN...): not needed here.
        } else {
          const p = this.queue.shift();
          if (!p) continue;
          if (msg.error) p.reject(new Error(`${msg.error.class}: ${msg.error.desc}`));
          else p.resolve(msg.return);
        }
      }
    });
    const onGone = (err?: Error) => {
      this.closedError = err ?? new Error('QMP connection closed');
      fail(this.closedError);
      for (const p of this.queue.splice(0)) p.reject(this.closedError);
    };
    this.socket.on('error', onGone);
    this.socket.on('close', () => onGone());
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject });
      this.socket.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

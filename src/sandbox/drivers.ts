// The drivers one worker host can use: the server's default, and any other a
// function asks for with its kindling:sandbox tag, made (and cleaned up after
// an earlier run) the first time one is asked for.
import type { DriverName, SandboxDriver } from './driver.js';

export class SandboxDrivers {
  private readonly made = new Map<DriverName, Promise<SandboxDriver>>();

  constructor(
    readonly defaultDriver: SandboxDriver,
    /** Throws when the driver cannot run here (its message says why). */
    private readonly make: (name: DriverName) => SandboxDriver,
  ) {
    this.made.set(defaultDriver.name, Promise.resolve(defaultDriver));
  }

  get(name?: DriverName): Promise<SandboxDriver> {
    if (name === undefined) return Promise.resolve(this.defaultDriver);
    let d = this.made.get(name);
    if (!d) {
      d = (async () => {
        const driver = this.make(name);
        await driver.cleanup();
        return driver;
      })();
      // A driver that cannot run now may after an install: ask again next time.
      d.catch(() => this.made.delete(name));
      this.made.set(name, d);
    }
    return d;
  }
}

// `kindling microvm build`: builds the micro-VM guest image and the default
// snapshot ahead of the first cold start (which would otherwise do it).
import path from 'node:path';
import { envMicrovmDir } from '../config.js';
import { nodeFlagsFor } from '../sandbox/driver.js';
import { MicrovmDriver, microvmUnavailable } from '../sandbox/microvm/driver.js';

export interface MicrovmBuildOptions {
  data: string;
  dir?: string;
  memory?: string[];
}

export async function microvmBuild(opts: MicrovmBuildOptions): Promise<void> {
  const why = microvmUnavailable();
  if (why !== undefined) {
    console.error(`kindling microvm build: ${why}`);
    process.exit(1);
  }
  const sizes = (opts.memory ?? ['128']).map(Number);
  const bad = sizes.find((mb) => !Number.isInteger(mb) || mb < 128 || mb > 10240);
  if (bad !== undefined) {
    console.error(`kindling microvm build: --memory takes sizes of 128 to 10240 MB, not '${bad}'.`);
    process.exit(2);
  }
  const baseDir = opts.dir ?? envMicrovmDir() ?? path.join(opts.data, 'microvm');
  const driver = new MicrovmDriver({ baseDir, log: (msg) => console.log(msg) });
  const image = driver.ensureImage();
  console.log(`Guest image: ${image.dir}`);
  for (const mb of sizes) await driver.warm(mb, nodeFlagsFor(mb));
  console.log(`Snapshots ready for ${sizes.map((mb) => `${mb} MB`).join(', ')}.`);
}

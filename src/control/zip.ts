// Inspects an uploaded deployment package without unpacking it: is it a zip,
// and how large does it claim to be unzipped. The host enforces the real size
// again when it unpacks (a zip can lie in its directory).
import yauzl from 'yauzl';

export interface ZipSummary {
  entries: number;
  unzippedSize: number;
  fileNames: string[];
}

export function inspectZip(zip: Buffer): Promise<ZipSummary> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true, validateEntrySizes: true, strictFileNames: false }, (err, zipfile) => {
      if (err || !zipfile) return reject(err ?? new Error('unreadable zip'));
      const summary: ZipSummary = { entries: 0, unzippedSize: 0, fileNames: [] };
      zipfile.on('entry', (entry: yauzl.Entry) => {
        summary.entries++;
        summary.unzippedSize += entry.uncompressedSize;
        summary.fileNames.push(entry.fileName);
        zipfile.readEntry();
      });
      zipfile.on('end', () => resolve(summary));
      zipfile.on('error', reject);
      zipfile.readEntry();
    });
  });
}

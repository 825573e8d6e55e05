// Imported once by a pooled sandbox's Node.js runtime while it waits for its
// function (node-loader.ts warmLoader), so that the handler's import is not the
// first run of Node's ES module loader over a file. Nothing else uses it.
export const warm = true;

// The splitc process: runs the command line (src/cli/program.ts) on process.argv. bin/splitc.js
// loads the built copy; `node --import tsx src/cli/main.ts` runs the source.

import { hideBin } from 'yargs/helpers';
import { main } from './program.js';

const code = await main(hideBin(process.argv));
// A failure ends the process at once, as it always has (onnxruntime's threads or a half-built
// server must not keep it alive); success lets it end by itself, so `serve` keeps serving.
if (code !== 0) process.exit(code);

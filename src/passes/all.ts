// Every pass of splitc, registered: passes register themselves when their module loads, so
// whoever parses pipeline text that may name any pass imports this module first.

import './autodiff/pass.js';
import './batch-as-depth.js';
import './bottleneck/pass.js';
import './cost.js';
import './cut-pass.js';
import './fold-batchnorm.js';
import './hoist-constants.js';
import './lower-recurrent.js';
import './opset.js';
import './shape/index.js';
import './spherefed.js';
import './training-graph.js';

export { registeredPasses } from './pass.js';

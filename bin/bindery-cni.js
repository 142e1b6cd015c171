#!/usr/bin/env node
// Entry point of the `bindery-cni` executable (a CNI plugin): runs the compiled plugin.
import { main } from '../dist/cni/main.js';

await main();

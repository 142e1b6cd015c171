// Benchmark entry point (`npm run bench`): runs every bench and prints tables.
import { benchChecksum, benchTcpHeaders, printTable } from './micro.js';

const ms = Number(process.env.BINDERY_BENCH_MS ?? 1000);
printTable('wire micro-benchmarks', [...benchChecksum(ms), ...benchTcpHeaders(ms)]);

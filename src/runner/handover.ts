// TCP connection hand-over between two translators at a migration's switch-over (a stub until the hand-over helper's module replaces it).
import { BinderyError, ErrorCode } from '../errors.js';

/** The two translators' control sockets. */
export interface HandoverOptions {
  sourceControl: string;
  targetControl: string;
  log?: (m: string) => void;
}

/** What a hand-over moved. */
export interface HandoverReport {
  flows: number;
  bytesQueued: number;
  freezeMs: number;
}

/**
 * Moves the source translator's TCP flows to the target translator.
 * @throws BinderyError (Up) always: not built yet
 */
export async function handOverTcp(o: HandoverOptions): Promise<HandoverReport> {
  void o;
  throw new BinderyError(ErrorCode.Up, 'TCP hand-over is not built yet');
}

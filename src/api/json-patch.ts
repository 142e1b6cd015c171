// JSON Patch (RFC 6902) of a KubeVirt CR, as `kubectl patch --type=json` documents register binding plugins.
//
// The operations themselves are applied by the `rfc6902` library (RFC 6902 §4 semantics, RFC 6901
// pointers). On top of it, two leniencies bindery has always had, so that a patch written
// against a full KubeVirt CR also applies to the minimal one `render` starts from:
//   - `add`/`replace` create missing parent containers (an array when the next token is an
//     index or "-", an object otherwise) instead of failing (RFC 6902 §4.1 would fail),
//   - `replace` of a missing object member adds it, and `remove` of a missing member is a no-op
//     (RFC 6902 §4.2/§4.3 would fail).
// Each failure is reported with the index of its operation; the other operations still apply.
import { applyPatch, type Operation } from 'rfc6902';

/** A JSON patch operation as read from a document (not yet checked). */
export interface PatchOp {
  readonly op: string;
  readonly path: string;
  readonly value?: unknown;
  readonly from?: string;
}

/** One operation that could not be applied. */
export interface PatchError {
  readonly index: number;
  readonly message: string;
}

const OPS = ['add', 'remove', 'replace', 'move', 'copy', 'test'];

/**
 * Whether a parsed document looks like a JSON patch: a non-empty array of objects with a
 * string `op`.
 *
 * @param v - The parsed document.
 * @returns True for a patch.
 */
export function isJsonPatch(v: unknown): v is PatchOp[] {
  return (
    Array.isArray(v) &&
    v.length > 0 &&
    v.every((o) => o !== null && typeof o === 'object' && typeof (o as PatchOp).op === 'string')
  );
}

function tokens(path: string): string[] {
  return path
    .slice(1)
    .split('/')
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

const isContainer = (v: unknown): v is Container => v !== null && typeof v === 'object';

/**
 * Creates the missing parents of `keys` (all but the last) in `target`.
 *
 * @returns The parent of the last key, or an error message.
 */
function ensureParents(
  target: Container,
  keys: readonly string[],
  path: string,
): Container | string {
  let node: Container = target;
  for (let j = 0; j < keys.length - 1; j++) {
    const k = keys[j]!;
    let next: unknown;
    if (Array.isArray(node)) {
      next = node[Number(k)];
    } else {
      if (node[k] === undefined || node[k] === null)
        node[k] = /^(-|\d+)$/.test(keys[j + 1]!) ? [] : {};
      next = node[k];
    }
    if (!isContainer(next)) return `path "${path}" goes through a non-object at "${k}"`;
    node = next;
  }
  return node;
}

/**
 * Applies a JSON patch to a KubeVirt CR object (with the leniencies above).
 *
 * @param target - The CR as plain JSON (mutated).
 * @param ops - The patch.
 * @returns One message per operation that could not be applied, with its index.
 */
export function applyJsonPatch(
  target: Record<string, unknown>,
  ops: readonly PatchOp[],
): PatchError[] {
  const errors: PatchError[] = [];
  ops.forEach((op, index) => {
    const fail = (message: string): void => void errors.push({ index, message });
    if (typeof op.path !== 'string' || !op.path.startsWith('/'))
      return fail(`path "${String(op.path)}" is not a JSON pointer`);
    if (!OPS.includes(op.op))
      return fail(`op "${op.op}" is not an RFC 6902 operation (${OPS.join(', ')})`);
    if ((op.op === 'move' || op.op === 'copy') && typeof op.from !== 'string')
      return fail(`op "${op.op}" needs a "from" JSON pointer`);
    let effective: PatchOp = op;
    const keys = tokens(op.path);
    const last = keys[keys.length - 1]!;
    if (op.op === 'add' || op.op === 'replace' || op.op === 'remove') {
      const parent =
        op.op === 'remove' ? walk(target, keys, op.path) : ensureParents(target, keys, op.path);
      if (typeof parent === 'string') return fail(parent);
      if (parent === undefined) return; // remove under a missing parent: nothing to remove
      const missing = !Array.isArray(parent) && !Object.hasOwn(parent, last);
      if (missing && op.op === 'remove') return;
      if (missing && op.op === 'replace') effective = { ...op, op: 'add' };
    }
    let result: Error | null | undefined;
    try {
      result = applyPatch(target, [effective as Operation])[0];
    } catch (e) {
      result = e instanceof Error ? e : new Error(String(e));
    }
    if (!result) return;
    if (result.name === 'MissingError') {
      const parent = walk(target, keys, op.path);
      return fail(
        Array.isArray(parent)
          ? `array index "${last}" is out of range in "${op.path}"`
          : `nothing at "${(result as Error & { path?: string }).path ?? op.path}"`,
      );
    }
    if (result.name === 'TestError') return fail(`test failed at "${op.path}"`);
    if (result.name === 'InvalidOperationError')
      return fail(`op "${op.op}" at "${op.path}" lacks its "value"`);
    return fail(`"${op.path}": ${result.message}`);
  });
  return errors;
}

/** The parent of the last key, undefined when a parent is missing, or an error message. */
function walk(
  target: Container,
  keys: readonly string[],
  path: string,
): Container | undefined | string {
  let node: unknown = target;
  for (let j = 0; j < keys.length - 1; j++) {
    const k = keys[j]!;
    node = Array.isArray(node) ? node[Number(k)] : (node as Record<string, unknown>)[k];
    if (node === undefined || node === null) return undefined;
    if (!isContainer(node)) return `path "${path}" goes through a non-object at "${k}"`;
  }
  return node as Container;
}

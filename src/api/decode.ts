// Small typed decoders from parsed YAML/JSON to manifest types: type errors and unknown fields become FieldErrors.
import type { FieldError } from './types.js';

/** Codes of loading problems (wrong types, unknown fields, malformed documents). */
export const LoadCode = {
  /** The YAML/JSON text does not parse. */
  Syntax: 'BINDERY_LOAD_SYNTAX',
  /** A value has the wrong JSON type (string where a number is expected, …). */
  Type: 'BINDERY_LOAD_TYPE',
  /** A field the schema does not have (errors where bindery models the object fully). */
  UnknownField: 'BINDERY_LOAD_UNKNOWN_FIELD',
  /** A field the schema requires is missing. */
  Required: 'BINDERY_LOAD_REQUIRED',
  /** apiVersion/kind is not one bindery reads. */
  Kind: 'BINDERY_LOAD_KIND',
  /** A file holds no document. */
  Empty: 'BINDERY_LOAD_EMPTY',
  /** A NetworkAttachmentDefinition's `spec.config` is not a JSON object. */
  NadConfig: 'BINDERY_LOAD_NAD_CONFIG',
  /**
   * A node workload (DaemonSet) the API server would refuse: selector not matching the
   * template's labels, a volume mount naming no volume, duplicate names, no containers.
   */
  Workload: 'BINDERY_LOAD_WORKLOAD',
} as const;

/** A FieldError that may be only a warning. */
export interface Problem extends FieldError {
  readonly severity: 'error' | 'warning';
}

/** Collects problems while decoding one document. */
export class DecodeContext {
  readonly problems: Problem[] = [];
  error(path: string, code: string, message: string): void {
    this.problems.push({ path, code, message, severity: 'error' });
  }
  warn(path: string, code: string, message: string): void {
    this.problems.push({ path, code, message, severity: 'warning' });
  }
  get hasErrors(): boolean {
    return this.problems.some((p) => p.severity === 'error');
  }
}

/** A decoder: returns the typed value or undefined after recording why. */
export type Decoder<T> = (value: unknown, path: string, cx: DecodeContext) => T | undefined;

/** `a.b`, or `b` at the root. */
export function child(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** `a[3]`. */
export function index(path: string, i: number): string {
  return `${path}[${i}]`;
}

/** `a[key]` for map entries whose keys are free text (annotations, binding names). */
export function mapKey(path: string, key: string): string {
  return `${path}[${key}]`;
}

/** The JSON type name of a value, for messages. */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? '[…]' : '{…}';
  return String(v);
}

function typeError(cx: DecodeContext, path: string, want: string, v: unknown): undefined {
  cx.error(path, LoadCode.Type, `expected ${want}, got ${jsonType(v)} ${show(v)}`);
  return undefined;
}

/** True for a plain object (not null, not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string. */
export const str: Decoder<string> = (v, path, cx) =>
  typeof v === 'string' ? v : typeError(cx, path, 'string', v);

/** An integer (JSON number without fraction). */
export const int: Decoder<number> = (v, path, cx) =>
  typeof v === 'number' && Number.isInteger(v) ? v : typeError(cx, path, 'integer', v);

/** A boolean. */
export const bool: Decoder<boolean> = (v, path, cx) =>
  typeof v === 'boolean' ? v : typeError(cx, path, 'boolean', v);

/** A Kubernetes quantity (string or number), as a string. */
export const quantity: Decoder<string> = (v, path, cx) =>
  typeof v === 'string'
    ? v
    : typeof v === 'number' && Number.isFinite(v)
      ? String(v)
      : typeError(cx, path, 'quantity (string or number)', v);

/** Any value, kept as written. */
export const any: Decoder<unknown> = (v) => v;

/** A list of `item`; elements that fail are left out (their problem is recorded). */
export function list<T>(item: Decoder<T>): Decoder<T[]> {
  return (v, path, cx) => {
    if (!Array.isArray(v)) return typeError(cx, path, 'array', v);
    const out: T[] = [];
    v.forEach((e, i) => {
      const d = item(e, index(path, i), cx);
      if (d !== undefined) out.push(d);
    });
    return out;
  };
}

/** A map of string keys to `item`. */
export function record<T>(item: Decoder<T>): Decoder<Record<string, T>> {
  return (v, path, cx) => {
    if (!isRecord(v)) return typeError(cx, path, 'object', v);
    const out: Record<string, T> = {};
    for (const [k, e] of Object.entries(v)) {
      const d = item(e, mapKey(path, k), cx);
      if (d !== undefined) out[k] = d;
    }
    return out;
  };
}

/** How an object decoder treats fields it does not type. */
export interface ObjectOptions {
  /**
   * Fields the upstream schema has but bindery does not type: kept as written in `extra`.
   */
  readonly passthrough?: readonly string[];
  /**
   * Any other field: `error` (the default, like `kubectl --validate=strict`) where bindery
   * models the whole object; `warning` (kept in `extra`) where bindery models only part of an
   * object whose full upstream schema it does not carry.
   */
  readonly unknown?: 'error' | 'warning';
  /** Fields that must be present (API-server schema `required`). */
  readonly required?: readonly string[];
  /**
   * Go zero values for fields the types declare as always present (`name: ''`, `port: 0`):
   * a missing field decodes to its zero value, as Go's JSON decoding does, and admission then
   * reports it the way KubeVirt/Virtink would.
   */
  readonly zero?: Readonly<Record<string, unknown>>;
}

/** Field decoders of an object, by JSON name. */
export type Fields = Readonly<Record<string, Decoder<unknown>>>;

/**
 * An object with typed `fields`. Null field values count as absent (as Kubernetes prunes
 * nulls of non-nullable fields). Untyped fields go to `extra` when there are any.
 */
export function obj<T>(fields: Fields, opts: ObjectOptions = {}): Decoder<T> {
  const passthrough = new Set(opts.passthrough ?? []);
  return (v, path, cx) => {
    if (!isRecord(v)) return typeError(cx, path, 'object', v);
    const out: Record<string, unknown> = {};
    const extra: Record<string, unknown> = {};
    for (const [k, e] of Object.entries(v)) {
      const dec = Object.hasOwn(fields, k) ? fields[k] : undefined;
      if (dec !== undefined) {
        if (e === null || e === undefined) continue;
        const d = dec(e, child(path, k), cx);
        if (d !== undefined) out[k] = d;
      } else if (passthrough.has(k)) {
        extra[k] = e;
      } else if (opts.unknown === 'warning') {
        cx.warn(
          child(path, k),
          LoadCode.UnknownField,
          `unknown field "${k}" (not checked by bindery, kept as written)`,
        );
        extra[k] = e;
      } else {
        cx.error(child(path, k), LoadCode.UnknownField, `unknown field "${k}"`);
      }
    }
    for (const r of opts.required ?? []) {
      if (v[r] === undefined || v[r] === null)
        cx.error(child(path, r), LoadCode.Required, 'Required value');
    }
    for (const [k, z] of Object.entries(opts.zero ?? {})) if (!(k in out)) out[k] = z;
    if (Object.keys(extra).length > 0) out['extra'] = extra;
    return out as T;
  };
}

/** An empty object such as `bridge: {}` (any field inside is unknown). */
export const empty: Decoder<Record<string, never>> = obj<Record<string, never>>({});

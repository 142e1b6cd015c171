// Admission rules as data: a rule is a stable code plus a check, and a registry is an ordered tree of rules.
//
// Theory of operation. A registry is a list of nodes run in order against one subject (a VMI
// spec, a KubeVirt CR) held in a context `C`. A node is either
//   - a rule `{ code, title, check }`: `check(ctx, item)` returns the problem it finds (path,
//     message, maybe severity) or undefined; the runner stamps the rule's code on it, so a rule
//     can only ever report its own code, or
//   - a group `{ title, items, rules }`: `items(ctx, item)` lists the sub-items (the VMI's
//     interfaces, an interface's ports, …) and the runner runs `rules` on each in turn.
// Running is depth-first in declaration order, so the order of the errors is the order of the
// nested loops the registry spells out: a group for a KubeVirt webhook function, one for its
// loop over interfaces, one per port inside that, and so on. A group whose `items` returns
// `[item]` is a plain step (see `step`). Pure: no I/O, no clock.
import type { FieldError } from '../types.js';

/** What a check reports; the runner adds the rule's code. */
export type Finding = Omit<FieldError, 'code'>;

/** One admission rule: a stable code and the check that reports it. */
export interface Rule<C, T> {
  readonly code: string;
  /** One line: what the rule rejects (for docs and reviews). */
  readonly title: string;
  readonly check: (ctx: C, item: T) => Finding | undefined;
}

/** A group of nodes run on each item `items` lists (a loop, or a plain step). */
export interface Group<C, T> {
  readonly title: string;
  readonly items: (ctx: C, item: T) => readonly unknown[];
  readonly rules: readonly Node<C, unknown>[];
}

export type Node<C, T> = Rule<C, T> | Group<C, T>;

/** A rule (identity; it pins the context and item types for inference). */
export function rule<C, T>(code: string, title: string, check: Rule<C, T>['check']): Rule<C, T> {
  return { code, title, check };
}

/** Runs `rules` on each of the items `items` lists, in order. */
export function each<C, T, U>(
  title: string,
  items: (ctx: C, item: T) => readonly U[],
  rules: readonly Node<C, U>[],
): Node<C, T> {
  // The children take U; the group hands them exactly what `items` returned.
  return { title, items, rules: rules as readonly Node<C, unknown>[] };
}

/** Runs `rules` once on the same item: a named step. */
export function step<C, T>(title: string, rules: readonly Node<C, T>[]): Node<C, T> {
  return each<C, T, T>(title, (_ctx, item) => [item], rules);
}

function isGroup<C, T>(n: Node<C, T>): n is Group<C, T> {
  return 'items' in n;
}

/** Runs a registry on one subject; all findings, in registry order. */
export function runRules<C, T>(nodes: readonly Node<C, T>[], ctx: C, item: T): FieldError[] {
  const out: FieldError[] = [];
  const visit = (list: readonly Node<C, unknown>[], it: unknown): void => {
    for (const n of list) {
      if (isGroup(n)) {
        for (const sub of n.items(ctx, it)) visit(n.rules, sub);
      } else {
        const f = n.check(ctx, it);
        if (f) out.push({ path: f.path, code: n.code, message: f.message, ...severityOf(f) });
      }
    }
  };
  visit(nodes as readonly Node<C, unknown>[], item);
  return out;
}

function severityOf(f: Finding): Pick<FieldError, 'severity'> {
  return f.severity === undefined ? {} : { severity: f.severity };
}

/** Every rule of a registry, depth-first in registry order. */
export function listRules<C, T>(nodes: readonly Node<C, T>[]): Rule<C, unknown>[] {
  const out: Rule<C, unknown>[] = [];
  const visit = (list: readonly Node<C, unknown>[]): void => {
    for (const n of list)
      if (isGroup(n)) visit(n.rules);
      else out.push(n);
  };
  visit(nodes as readonly Node<C, unknown>[]);
  return out;
}

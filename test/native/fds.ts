// Test helper: the fds of this process the shim can open (sockets, taps, epoll sets), to show a suite leaves none open.
import { readdirSync, readlinkSync } from 'node:fs';

/** fd number → link target, for sockets, /dev/net/tun and epoll sets of this process. */
export function shimFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // the directory's own fd, gone by now
    }
    if (/^socket:|^\/dev\/net\/tun$|eventpoll/.test(target)) out.set(Number(name), target);
  }
  return out;
}

/** The entries of `now` that `before` did not have (a new fd, or a number reused for another file). */
export function newFds(before: Map<number, string>, now = shimFds()): string[] {
  return [...now].filter(([fd, t]) => before.get(fd) !== t).map(([fd, t]) => `${fd} → ${t}`);
}

/** Waits (deadline `ms`) until no fd beyond `before` is open; returns what is still open. */
export async function settleFds(before: Map<number, string>, ms = 3000): Promise<string[]> {
  const end = Date.now() + ms;
  for (;;) {
    const extra = newFds(before);
    if (extra.length === 0 || Date.now() > end) return extra;
    await new Promise((r) => setTimeout(r, 10));
  }
}

// UDP load tool for bench/udp.ts, the same for every translator measured:
//   recv PORT [ADDR]       count datagrams on ADDR:PORT (127.0.0.1) until 1 s idle, print Gbit/s
//   send IP PORT LEN SECS  send LEN-byte datagrams back to back for SECS seconds
//   rserve PORT LEN SECS [ADDR]  wait for one datagram on ADDR:PORT (127.0.0.1), then blast
//                          back to its sender
//   rrecv IP PORT          poke IP:PORT, then count what comes back (as recv)
// iperf3 is not used because its control channel is TCP, which bindery passt does not translate yet.
import dgram from 'node:dgram';

const [mode, ...args] = process.argv.slice(2);
const now = () => Number(process.hrtime.bigint()) / 1e9;

function socket() {
  return dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
}

/** Counts datagrams; stops 1 s after the last one (or `firstWaitS` with none). */
function count(s, firstWaitS, poke) {
  let n = 0;
  let bytes = 0;
  let first = 0;
  let last = 0;
  const started = now();
  s.on('message', (m) => {
    last = now();
    if (n++ === 0) first = last;
    else bytes += m.length;
  });
  const timer = setInterval(() => {
    const t = now();
    if (n === 0 && poke) poke();
    if ((n === 0 && t - started > firstWaitS) || (n > 0 && t - last > 1)) {
      clearInterval(timer);
      if (n === 0) console.log('nothing');
      else {
        const secs = last - first;
        const gbit = secs > 0 ? (bytes * 8) / secs / 1e9 : 0;
        console.log(
          `recv ${n} datagrams ${bytes} bytes ${secs.toFixed(6)} s ${gbit.toFixed(4)} Gbit/s`,
        );
      }
      s.close();
    }
  }, 200);
}

/** Sends `len`-byte datagrams to ip:port for `secs` s, 64 per turn of the event loop. */
function blast(s, ip, port, len, secs) {
  const buf = Buffer.alloc(len);
  const end = now() + secs;
  let sent = 0;
  const turn = () => {
    if (now() >= end) {
      console.log(`sent ${sent} datagrams`);
      s.close();
      return;
    }
    for (let i = 0; i < 64; i++) s.send(buf, port, ip, (e) => (e ? undefined : sent++));
    setImmediate(turn);
  };
  turn();
}

const s = socket();
if (mode === 'recv') {
  s.bind(Number(args[0]), args[1] ?? '127.0.0.1', () => {
    console.log('ready');
    count(s, 30, undefined);
  });
} else if (mode === 'send') {
  blast(s, args[0], Number(args[1]), Number(args[2]), Number(args[3]));
} else if (mode === 'rserve') {
  s.bind(Number(args[0]), args[3] ?? '127.0.0.1', () => console.log('ready'));
  s.once('message', (_m, from) =>
    blast(s, from.address, from.port, Number(args[1]), Number(args[2])),
  );
} else if (mode === 'rrecv') {
  const poke = () => s.send('go', Number(args[1]), args[0]);
  s.bind(0, () => {
    poke();
    count(s, 5, poke);
  });
} else {
  console.error('usage: udpblast.mjs recv|send|rserve|rrecv ...');
  process.exit(2);
}

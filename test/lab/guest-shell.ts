// Shell scripts the QEMU guest suites run in the bundled initramfs: DHCP through udhcpc, and the libvirt suites' fetch-then-serve guest.

/**
 * Lines that write a udhcpc script (busybox's default one is not in the initramfs), run udhcpc
 * once on eth0 and print `UDHCPC-RC=<status>`. The script configures each lease and prints
 * `LEASE ip=… mask=… router=…` (and `dns=…` with `dns`).
 */
export function udhcpcLines(opts: { dns?: boolean } = {}): string {
  return `cat > /tmp/udhcpc.sh <<'EOF'
#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface" ;;
  bound|renew)
    ip addr add "$ip/$mask" dev "$interface"
    ip route add default via "$router"
    echo "LEASE ip=$ip mask=$mask router=$router${opts.dns === true ? ' dns=$dns' : ''}"
    ;;
esac
exit 0
EOF
chmod 755 /tmp/udhcpc.sh
udhcpc -i eth0 -n -q -t 5 -s /tmp/udhcpc.sh
echo "UDHCPC-RC=$?"
`;
}

/**
 * The libvirt suites' guest: DHCP, fetch hello.txt from the node's server (printed as
 * `GOT=[…]`), serve `<token>-from-guest` on `vmPort` until the server has /done.
 */
export function fetchServeScript(
  token: string,
  server: { addr: string; port: number },
  vmPort: number,
): string {
  return `
${udhcpcLines()}wget -q -O /tmp/got http://${server.addr}:${server.port}/hello.txt
echo "WGET-RC=$?"
echo "GOT=[$(cat /tmp/got)]"
mkdir -p /www
echo "${token}-from-guest" > /www/index.html
httpd -p ${vmPort} -h /www
echo "HTTPD-UP"
i=0
while [ $i -lt 120 ] && ! wget -q -O /dev/null http://${server.addr}:${server.port}/done; do
  sleep 0.5; i=$((i+1))
done
echo "DONE-SEEN=$i"
exit 0
`;
}

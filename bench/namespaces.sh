# Sourced by the two-"machine" benchmarks: two network namespaces joined by a veth pair, and an
# rsh agent for mpirun (--mca plm_rsh_agent "$work/agent") that enters either one with a host
# name of its own. Sets a, b (the namespaces), dev_a, dev_b (their ends of the link), subnet
# (their /24 without its last part: hosts $subnet.1 and $subnet.2) and work (a temporary folder,
# holding the agent); all removed at exit. Needs root and iproute2.
# Usage: source bench/namespaces.sh LETTER OCTET   (a letter and a subnet 10.OCTET.x.0/24 of the
# script's own, so that two benchmarks can run at once)
id=$$
a=vae${1}${id}a b=vae${1}${id}b dev_a=${1}${id}a dev_b=${1}${id}b subnet=10.$2.$((id % 250))
work=$(mktemp -d)
cleanup() { ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$a"
ip netns add "$b"
ip link add "$dev_a" type veth peer name "$dev_b"
ip link set "$dev_a" netns "$a"
ip link set "$dev_b" netns "$b"
ip -n "$a" addr add "$subnet.1/24" dev "$dev_a"
ip -n "$b" addr add "$subnet.2/24" dev "$dev_b"
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set "$dev_a" up
ip -n "$b" link set "$dev_b" up
cat >"$work/agent" <<AGENT
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done
host=\$1; shift
case "\$host" in
  $subnet.1) ns=$a ;;
  $subnet.2) ns=$b ;;
  *) echo "agent: unknown host \$host" >&2; exit 255 ;;
esac
exec ip netns exec "\$ns" unshare --uts sh -c "hostname host-\$ns; \$*"
AGENT
chmod +x "$work/agent"

#!/bin/sh
# Test hosts in network namespaces: a cluster on one machine.
#
# Host I lives in namespace PREFIX-hI with lo and eth0 = SUBNET.I/24. Each
# eth0 is one end of a veth pair whose other end, hI, is a port of bridge br0
# in namespace PREFIX-hub. Nothing is added to the root namespace and no
# namespace has a route out, so no packet ever leaves. See hosts/README.md.
#
# Exit status: 0 done, 1 a step failed (up undoes what it made), 2 bad usage
# or a missing requirement (root, iproute2).

PROG=netns.sh
MAX_HOSTS=64
PREFIX=agentd
SUBNET=10.231.0
PORT=7070
RATE=

usage() {
	cat <<'EOF'
usage: hosts/netns.sh COMMAND [OPTIONS]

Test hosts in network namespaces, joined by a bridge in a namespace of its
own: nothing is added to the root namespace and no traffic leaves.

  up N [--rate RATE] [--prefix NAME] [--subnet A.B.C]
      Create hosts 1..N (N from 1 to 64): namespace NAME-hI with eth0 at
      A.B.C.I/24, linked to a bridge in namespace NAME-hub. --rate limits
      each link both ways with tc tbf (e.g. 8mbit, 500kbit, 1gbit).
  down [--prefix NAME]
      Stop processes left in the namespaces and remove them all. Removing
      nothing is not an error.
  exec [--prefix NAME] I CMD [ARG...]
      Run CMD inside host I's namespace.
  inventory [--prefix NAME] [--port P]
      Print a hosts JSON (hosts/README.md) for the hosts that are up,
      named hI at their address and port P.
  inventory N [--subnet A.B.C] [--port P]
      Print the inventory that "up N" will have; needs no root.
  --help
      This text.

Defaults: --prefix agentd, --subnet 10.231.0, --port 7070, no rate limit.
Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2 (ip, and tc for
--rate). Exit status: 0 done, 1 a step failed (up then removes what it
made), 2 bad usage or a missing requirement.
EOF
}

die() {
	echo "$PROG: $*" >&2
	exit 1
}

usage_error() {
	echo "$PROG: $*" >&2
	exit 2
}

# is_uint S: S is a decimal number with no sign and no leading zero.
is_uint() {
	case $1 in
	''|*[!0-9]*|0?*) return 1 ;;
	esac
	[ ${#1} -le 6 ]
}

check_prefix() {
	case $1 in
	''|*[!A-Za-z0-9_-]*) usage_error "--prefix: expected 1 to 32 of" \
	    "A-Z a-z 0-9 _ -, got \"$1\"" ;;
	esac
	[ ${#1} -le 32 ] || usage_error "--prefix: longer than 32 characters"
}

# check_subnet S: S is three octets A.B.C, each 0 to 255.
check_subnet() {
	echo "$1" | awk -F. 'NF != 3 { exit 1 }
	    { for (i = 1; i <= 3; i++)
		if ($i !~ /^(0|[1-9][0-9]?[0-9]?)$/ || $i + 0 > 255) exit 1 }'
}

check_rate() {
	# What tc reads as a rate: a number and a unit, e.g. 8mbit or 1.5gbit.
	echo "$1" | grep -Eqx '[0-9]+(\.[0-9]+)?([kKmMgGtT]i?)?(bit|bps)' ||
	    usage_error "--rate: expected a tc rate such as 8mbit, got \"$1\""
}

check_port() {
	if ! is_uint "$1" || [ "$1" -lt 1 ] || [ "$1" -gt 65535 ]; then
		usage_error "--port: expected 1 to 65535, got \"$1\""
	fi
}

# need_root: exit 2 unless we can make namespaces and links.
need_root() {
	command -v ip >/dev/null 2>&1 ||
	    { echo "$PROG: needs iproute2 (the ip command)" >&2; exit 2; }
	[ "$(id -u)" = 0 ] && return 0
	# Without root: CAP_NET_ADMIN (bit 12) and CAP_SYS_ADMIN (bit 21).
	caps=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status 2>/dev/null)
	if [ -n "$caps" ] && [ $(((0x$caps >> 12) & 1)) = 1 ] &&
	    [ $(((0x$caps >> 21) & 1)) = 1 ]; then
		return 0
	fi
	echo "$PROG: needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to" \
	    "create network namespaces" >&2
	exit 2
}

# our_namespaces: the namespaces of PREFIX, hosts by number, then the hub.
our_namespaces() {
	ip netns list 2>/dev/null | awk -v p="$PREFIX" '
	    $1 == p "-hub" { print 1000000, $1; next }
	    index($1, p "-h") == 1 &&
		substr($1, length(p) + 3) ~ /^[1-9][0-9]*$/ {
		print substr($1, length(p) + 3), $1
	    }' | sort -n | cut -d' ' -f2
}

# stop_pids NS: TERM, then KILL, what still runs in NS.
stop_pids() {
	pids=$(ip netns pids "$1" 2>/dev/null)
	[ -n "$pids" ] || return 0
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null
	tries=0
	while [ $tries -lt 20 ] && [ -n "$(ip netns pids "$1" 2>/dev/null)" ]
	do
		sleep 0.1
		tries=$((tries + 1))
	done
	pids=$(ip netns pids "$1" 2>/dev/null)
	# shellcheck disable=SC2086
	[ -z "$pids" ] || kill -KILL $pids 2>/dev/null
}

# teardown: remove every namespace of PREFIX; hosts first, then the hub.
teardown() {
	rc=0
	for ns in $(our_namespaces); do
		stop_pids "$ns"
		# Deleting a host's namespace deletes its veth pair with it.
		ip netns del "$ns" 2>/dev/null || {
			echo "$PROG: cannot remove namespace $ns" >&2
			rc=1
		}
	done
	return $rc
}

# step CMD...: run a step of up; on failure undo everything and exit 1.
step() {
	if ! out=$("$@" 2>&1); then
		trap - INT TERM HUP
		teardown
		die "up: $* failed: $(echo "$out" | head -n 1)"
	fi
}

cmd_up() {
	[ $# -ge 1 ] || usage_error "up: expected the number of hosts"
	n=$1
	shift
	if ! is_uint "$n" || [ "$n" -lt 1 ] || [ "$n" -gt $MAX_HOSTS ]; then
		usage_error "up: expected 1 to $MAX_HOSTS hosts, got \"$n\""
	fi
	while [ $# -gt 0 ]; do
		case $1 in
		--rate) [ $# -ge 2 ] || usage_error "--rate needs a value"
			RATE=$2; shift 2 ;;
		--prefix) [ $# -ge 2 ] || usage_error "--prefix needs a value"
			PREFIX=$2; shift 2 ;;
		--subnet) [ $# -ge 2 ] || usage_error "--subnet needs a value"
			SUBNET=$2; shift 2 ;;
		*) usage_error "up: unknown argument \"$1\"" ;;
		esac
	done
	check_prefix "$PREFIX"
	check_subnet "$SUBNET" ||
	    usage_error "--subnet: expected A.B.C (three octets), got \"$SUBNET\""
	[ -z "$RATE" ] || check_rate "$RATE"
	need_root
	if [ -n "$RATE" ] && ! command -v tc >/dev/null 2>&1; then
		echo "$PROG: --rate needs tc (iproute2)" >&2
		exit 2
	fi
	# Never adopt namespaces we did not make: teardown would remove them.
	if [ -n "$(our_namespaces)" ]; then
		die "up: namespaces with prefix $PREFIX exist already (remove" \
		    "them with: hosts/netns.sh down --prefix $PREFIX)"
	fi

	hub=$PREFIX-hub
	trap 'teardown; exit 1' INT TERM HUP
	step ip netns add "$hub"
	step ip -n "$hub" link set lo up
	# No STP: ports forward at once, and there are no loops to break.
	step ip -n "$hub" link add name br0 type bridge stp_state 0
	step ip -n "$hub" link set br0 up
	i=1
	while [ "$i" -le "$n" ]; do
		ns=$PREFIX-h$i
		step ip netns add "$ns"
		step ip -n "$ns" link set lo up
		# Made inside the hub, so the pair never exists in the root ns.
		step ip -n "$hub" link add name "h$i" type veth peer name eth0 \
		    netns "$ns"
		step ip -n "$hub" link set "h$i" master br0
		step ip -n "$hub" link set "h$i" up
		step ip -n "$ns" addr add "$SUBNET.$i/24" dev eth0
		step ip -n "$ns" link set eth0 up
		if [ -n "$RATE" ]; then
			step tc -n "$ns" qdisc add dev eth0 root tbf \
			    rate "$RATE" burst 32kbit latency 400ms
			step tc -n "$hub" qdisc add dev "h$i" root tbf \
			    rate "$RATE" burst 32kbit latency 400ms
		fi
		i=$((i + 1))
	done
	trap - INT TERM HUP
	echo "$PROG: $n hosts up: $PREFIX-h1..$PREFIX-h$n at $SUBNET.1..$n," \
	    "bridge in $hub${RATE:+, links limited to $RATE}"
}

cmd_down() {
	while [ $# -gt 0 ]; do
		case $1 in
		--prefix) [ $# -ge 2 ] || usage_error "--prefix needs a value"
			PREFIX=$2; shift 2 ;;
		*) usage_error "down: unknown argument \"$1\"" ;;
		esac
	done
	check_prefix "$PREFIX"
	need_root
	teardown || exit 1
}

cmd_exec() {
	while [ $# -gt 0 ]; do
		case $1 in
		--prefix) [ $# -ge 2 ] || usage_error "--prefix needs a value"
			PREFIX=$2; shift 2 ;;
		*) break ;;
		esac
	done
	check_prefix "$PREFIX"
	[ $# -ge 2 ] || usage_error "exec: expected a host number and a command"
	i=$1
	shift
	if ! is_uint "$i" || [ "$i" -lt 1 ] || [ "$i" -gt $MAX_HOSTS ]; then
		usage_error "exec: expected a host number from 1 to" \
		    "$MAX_HOSTS, got \"$i\""
	fi
	need_root
	our_namespaces | grep -qx "$PREFIX-h$i" ||
	    die "exec: no host $i (no namespace $PREFIX-h$i)"
	exec ip netns exec "$PREFIX-h$i" "$@"
}

# print_inventory: reads "NAME ADDRESS" lines, writes the hosts JSON.
print_inventory() {
	awk -v port="$PORT" '
	    BEGIN { printf "{\"hosts\": [" }
	    { printf("%s\n  {\"name\": \"%s\", \"address\": \"%s:%s\", " \
		"\"tags\": [\"netns\"]}", (NR > 1 ? "," : ""), $1, $2, port) }
	    END { print "\n]}" }'
}

cmd_inventory() {
	n=
	case $1 in
	[0-9]*) n=$1; shift ;;
	esac
	while [ $# -gt 0 ]; do
		case $1 in
		--prefix) [ $# -ge 2 ] || usage_error "--prefix needs a value"
			PREFIX=$2; shift 2 ;;
		--port) [ $# -ge 2 ] || usage_error "--port needs a value"
			PORT=$2; shift 2 ;;
		--subnet) [ $# -ge 2 ] || usage_error "--subnet needs a value"
			SUBNET=$2; shift 2 ;;
		*) usage_error "inventory: unknown argument \"$1\"" ;;
		esac
	done
	check_prefix "$PREFIX"
	check_port "$PORT"
	check_subnet "$SUBNET" ||
	    usage_error "--subnet: expected A.B.C (three octets), got \"$SUBNET\""
	if [ -n "$n" ]; then
		if ! is_uint "$n" || [ "$n" -lt 1 ] || [ "$n" -gt $MAX_HOSTS ]
		then
			usage_error "inventory: expected 1 to $MAX_HOSTS" \
			    "hosts, got \"$n\""
		fi
		i=1
		while [ "$i" -le "$n" ]; do
			echo "h$i $SUBNET.$i"
			i=$((i + 1))
		done | print_inventory
		return
	fi
	need_root
	list=$(for ns in $(our_namespaces); do
		[ "$ns" = "$PREFIX-hub" ] && continue
		addr=$(ip -n "$ns" -4 -o addr show dev eth0 2>/dev/null |
		    awk '{ sub(/\/.*/, "", $4); print $4; exit }')
		[ -n "$addr" ] && echo "${ns#"$PREFIX"-} $addr"
	done)
	[ -n "$list" ] || die "inventory: no hosts with prefix $PREFIX are up"
	echo "$list" | print_inventory
}

[ $# -ge 1 ] || usage_error "expected a command: up, down, exec," \
    "inventory (--help for details)"
command=$1
shift
case $command in
up) cmd_up "$@" ;;
down) cmd_down "$@" ;;
exec) cmd_exec "$@" ;;
inventory) cmd_inventory "$@" ;;
-h|--help|help) usage ;;
*) usage_error "unknown command \"$command\"" ;;
esac

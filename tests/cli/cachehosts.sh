# The data cache on 3 real daemons (tests/cli/cachehosts.py): placement by
# part, reading where the data is and after a move, kill -9 of a holder
# and its copies made again, corrupt blocks, bad names, eviction and a
# full cache.
GROUP=cache
. "$(dirname "$0")/lib.sh"

cluster3 $((42000 + ($$ % 1000) * 20)) || exit 0
echo "$pid_2" >"$T/pid2"
echo "$pid_3" >"$T/pid3"
python3 "$(dirname "$0")/cachehosts.py" "$T" "$base" "$NNSIM_BIN"

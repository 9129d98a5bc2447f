# The lifecycle protocol's model (tests/model/lifecycle.pml) checked with
# spin: 2 orders in the suite, 3 in make stress (SPIN_ORDERS). A mutant in
# which a packed worker applies the orders it is sent, as the old worker
# did with a client's resume, must fail: the check can fail.
GROUP=model
. "$(dirname "$0")/lib.sh"

if ! command -v spin >/dev/null 2>&1; then
	skip lifecycle "spin is not installed (make deps)"
	exit 0
fi
n=${SPIN_ORDERS:-2}
# check NAME MODEL: 0 when spin finds no error, 1 when it finds one.
check() {
	mkdir -p "$T/$1"
	(cd "$T/$1" && spin -DNORD="$n" -a "$2" >spin.out 2>&1 &&
	    cc -O2 -DCOLLAPSE -DMEMLIM=8192 -o pan pan.c >cc.out 2>&1 &&
	    ./pan -m300000 >pan.out 2>&1)
	if ! grep -q 'errors: ' "$T/$1/pan.out" 2>/dev/null; then
		echo "$(cat "$T/$1"/*.out 2>/dev/null | tail -3)" >"$T/$1/why"
		return 2
	fi
	grep -q 'errors: 0$' "$T/$1/pan.out" && ! grep -q 'Search not completed' "$T/$1/pan.out"
}
check model "$SRC/tests/model/lifecycle.pml"
rc=$?
states=$(grep 'states, stored' "$T/model/pan.out" 2>/dev/null | awk '{print $1}')
if [ $rc -eq 0 ]; then
	ok "lifecycle ($n orders, $states states)"
else
	fail lifecycle "$(grep -E 'assertion|errors|invalid|Search' "$T/model/pan.out" 2>/dev/null | head -3) $(cat "$T/model/why" 2>/dev/null)"
fi
sed 's/:: op == ORDER -> w2d\[h\]!UNREAD,id,false/:: op == ORDER -> applied[id]++/' \
    "$SRC/tests/model/lifecycle.pml" >"$T/mutant.pml"
if ! grep -q 'op == ORDER -> applied\[id\]++' "$T/mutant.pml"; then
	fail mutant_fails "the mutation no longer applies to the model"
elif check mutant "$T/mutant.pml"; then
	fail mutant_fails "spin found no error in a worker that applies orders while packed"
elif grep -q 'assertion violated' "$T/mutant/pan.out"; then
	ok mutant_fails
else
	fail mutant_fails "$(cat "$T/mutant/why" 2>/dev/null)"
fi

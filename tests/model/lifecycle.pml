/*
 * The lifecycle protocol of one agent on two hosts, as agentd implements
 * it (docs/agents.md, "Orders and states"; agentd/lifecycle.c, runner.c,
 * worker.c, move.c). A client gives NORD orders of any kind, one after
 * the other, to the host its directory names; the agent may also move by
 * itself; a destination may accept or refuse a move. spin explores every
 * interleaving and checks:
 *   - every order that was acknowledged is applied exactly once, and one
 *     that was refused never;
 *   - the worker applies orders in the order they were given (a kill,
 *     which goes after orders another host queued, excepted);
 *   - a packed worker applies no order (it returns them), and in the end
 *     the agent is as its acknowledged orders left it (suspended or not,
 *     killed or not);
 *   - nothing waits for ever: when everything is idle, no copy is held,
 *     moving or starting, and nothing is left in a queue.
 * A daemon passes an order for an agent it holds (arrived, not yet let
 * go) to the move's source, over the link that carries the move: the
 * source queues it with the rest, or, if it has let go, passes it back
 * behind its go. Without that (orders queued at both ends), spin finds
 * two orders applied out of the order they were given.
 * Run: spin -a lifecycle.pml && cc -O2 -DCOLLAPSE -o pan pan.c && ./pan
 * (tests/model/run.sh does, from make test, when spin is installed).
 */
#ifndef NORD
#define NORD	3	/* orders the client gives (spin -DNORD=2 for less) */
#endif
#define NSELF	1	/* moves the agent starts by itself */
#define QMAX	4

mtype = { SUSPEND, RESUME, MIGRATE, CLONE, KILL };	/* the orders */
mtype = { MOVING, UNREAD, SYNCED, EXITED };		/* worker -> daemon */
mtype = { ORDER, SYNC, DROP, ABORT, GO };		/* daemon -> worker */
mtype = { ACCEPT, OK, NO, CARRY, GOP, FWD };		/* daemon -> daemon */

/* The states, as agentd/lifecycle.h names them. */
#define STARTING	0
#define HELD		1
#define RUNNING		2
#define SUSPENDED	3
#define MOVINGS		4
#define DOOMED		5
#define GONE		6

byte st[2];			/* each host's copy of the agent */
bool arrsusp[2];		/* an arrival is suspended */
bool psusp[2];			/* it packed while suspended */
byte loc = 0;			/* where the client's directory says */
bool acked[NORD];
byte applied[NORD];
mtype kind[NORD];
byte last = 255;		/* the last order a worker applied */
byte selfmoves = NSELF;
bool wsusp = false;		/* the live worker is suspended */
bool alive = true;		/* no worker applied a kill */

/* Each host's queued orders: bounced by its packed worker, then queued,
 * then (at a destination) carried from the source. */
byte q[2 * QMAX];
byte qn[2];
byte bq[2 * QMAX];
byte bn[2];
byte cq[2 * QMAX];
byte cn[2];

chan ord[2] = [2] of { byte, byte };		/* order id, hops */
chan rep = [1] of { bool };			/* acknowledged? */
chan w2d[2] = [QMAX] of { mtype, byte, bool };	/* op, order, suspended */
chan d2w[2] = [QMAX] of { mtype, byte };	/* op, order */
chan d2d[2] = [QMAX] of { mtype, byte, byte };	/* to host h */

inline pushq(h, v) {
	assert(qn[h] < QMAX);
	q[h * QMAX + qn[h]] = v;
	qn[h]++
}

inline pushb(h, v) {
	assert(bn[h] < QMAX);
	bq[h * QMAX + bn[h]] = v;
	bn[h]++
}

inline pushc(h, v) {
	assert(cn[h] < QMAX);
	cq[h * QMAX + cn[h]] = v;
	cn[h]++
}

/* One order to a live or transient copy, as lifecycle.c's table says;
 * ok is what the reply says. */
inline order(h, id, ok) {
	if
	:: st[h] == RUNNING && kind[id] == RESUME ->
		applied[id]++; ok = true	/* nothing to do */
	:: st[h] == SUSPENDED && kind[id] == SUSPEND ->
		applied[id]++; ok = true
	:: (st[h] == RUNNING || st[h] == SUSPENDED) &&
	   !(st[h] == RUNNING && kind[id] == RESUME) &&
	   !(st[h] == SUSPENDED && kind[id] == SUSPEND) ->
		d2w[h]!ORDER,id;
		if
		:: kind[id] == SUSPEND -> st[h] = SUSPENDED
		:: kind[id] == RESUME -> st[h] = RUNNING
		:: kind[id] == KILL -> st[h] = DOOMED
		:: else -> skip
		fi;
		ok = true
	:: st[h] == STARTING || st[h] == HELD || st[h] == MOVINGS ->
		pushq(h, id);
		if
		:: kind[id] == KILL -> st[h] = DOOMED
		:: else -> skip
		fi;
		ok = true
	:: st[h] == DOOMED && kind[id] == KILL ->
		applied[id]++; ok = true	/* already killed */
	:: st[h] == DOOMED && kind[id] != KILL -> ok = false
	:: st[h] == GONE -> ok = false
	fi
}

/* The copy is live again: bounced, queued (and carried, ahead of the
 * queue at a destination, a kill last) orders apply in turn. Uses the
 * daemon's k, i, kill, ok2, all and an. */
inline flush(h) {
	kill = 255;
	k = 0;
	an = 0;
	do
	:: k < cn[h] ->
		if
		:: kind[cq[h * QMAX + k]] == KILL && kill == 255 ->
			kill = cq[h * QMAX + k]
		:: kind[cq[h * QMAX + k]] == KILL && kill != 255 ->
			applied[cq[h * QMAX + k]]++
		:: else -> all[an] = cq[h * QMAX + k]; an++
		fi;
		k++
	:: else -> break
	od;
	k = 0;
	do
	:: k < bn[h] -> all[an] = bq[h * QMAX + k]; an++; k++
	:: else -> break
	od;
	k = 0;
	do
	:: k < qn[h] ->
		if
		:: cn[h] > 0 && kind[q[h * QMAX + k]] == KILL && kill == 255 ->
			kill = q[h * QMAX + k]
		:: cn[h] > 0 && kind[q[h * QMAX + k]] == KILL && kill != 255 ->
			applied[q[h * QMAX + k]]++
		:: else -> all[an] = q[h * QMAX + k]; an++
		fi;
		k++
	:: else -> break
	od;
	if
	:: kill != 255 -> all[an] = kill; an++
	:: else -> skip
	fi;
	cn[h] = 0; bn[h] = 0; qn[h] = 0;
	i = 0;
	do
	:: i < an ->
		order(h, all[i], ok2);
		assert(ok2);	/* nothing queued is refused */
		all[i] = 0;
		i++
	:: else -> break
	od;
	an = 0; i = 0; k = 0; kill = 0; ok2 = false
}

proctype Worker(byte h; bool held; bool susp0)
{
	bool susp = susp0, want = false, packed = false;
	mtype op;
	byte id;

	if
	:: held -> d2w[h]?GO,_; wsusp = susp
	:: else -> skip
	fi;
end_run:
	do
	:: d2w[h]?op,id ->
		assert(op == ORDER);
		/* Between steps: the order applies now. */
		assert(!packed);
		applied[id]++;
		if
		:: kind[id] != KILL -> assert(last == 255 || id > last); last = id
		:: else -> skip
		fi;
		if
		:: kind[id] == SUSPEND -> susp = true
		:: kind[id] == RESUME -> susp = false
		:: kind[id] == MIGRATE -> want = true
		:: kind[id] == CLONE -> skip	/* the copy runs on its own */
		:: kind[id] == KILL ->
			alive = false;
			w2d[h]!EXITED,0,false;
			goto stopped
		fi;
		wsusp = susp
	:: atomic { empty(d2w[h]) && (want || (selfmoves > 0 && !susp)) ->
		if
		:: !want -> selfmoves--
		:: else -> skip
		fi };
		want = false;
		packed = true;
		w2d[h]!MOVING,0,susp;
		do
		:: d2w[h]?op,id ->
			if
			:: op == ORDER -> w2d[h]!UNREAD,id,false
			:: op == SYNC -> w2d[h]!SYNCED,0,false
			:: op == DROP -> goto stopped
			:: op == ABORT -> packed = false; break
			fi
		od
	od;
stopped:
	skip
}

proctype Daemon(byte h)
{
	byte id, hops, k, i, kill, an;
	byte all[3 * QMAX];
	bool ok, s, ok2;

end_loop:
	do
	/*
	 * A client's order, or one another daemon passed on over the link
	 * that also carries moves (so it keeps its place behind a go). Not
	 * here, or held here: passed to the other host, which knows.
	 */
	:: ord[h]?id,hops -> goto take
	:: d2d[h]?FWD,id,hops ->
take:
		if
		:: (st[h] == GONE || st[h] == HELD) && hops < 2 ->
			d2d[1 - h]!FWD,id,hops + 1
		:: else -> order(h, id, ok); rep!ok
		fi
	:: w2d[h]?MOVING,_,s ->
		psusp[h] = s;
		if
		:: st[h] == DOOMED -> skip	/* the kill comes back unread */
		:: else -> st[h] = MOVINGS
		fi;
		d2w[h]!SYNC,0
	:: w2d[h]?UNREAD,id,_ -> pushb(h, id)
	:: w2d[h]?SYNCED,_,_ -> d2d[1 - h]!ACCEPT,0,psusp[h]
	:: w2d[h]?EXITED,_,_ -> st[h] = GONE
	:: d2d[h]?OK,_,_ ->
		/* Commit: the directory switches, the orders go with go. */
		loc = 1 - h;
		k = 0;
		do
		:: k < bn[h] -> d2d[1 - h]!CARRY,bq[h * QMAX + k],false; k++
		:: else -> break
		od;
		k = 0;
		do
		:: k < qn[h] -> d2d[1 - h]!CARRY,q[h * QMAX + k],false; k++
		:: else -> break
		od;
		bn[h] = 0; qn[h] = 0;
		d2d[1 - h]!GOP,0,false;
		st[h] = GONE;
		d2w[h]!DROP,0
	:: d2d[h]?NO,_,_ ->
		/* Abort: it carries on here, killed if it was. */
		st[h] = (psusp[h] -> SUSPENDED : RUNNING);
		d2w[h]!ABORT,0;
		flush(h)
	:: d2d[h]?ACCEPT,_,s ->
		if
		:: st[h] == GONE ->
			arrsusp[h] = s;
			st[h] = HELD;
			run Worker(h, true, s);
			d2d[1 - h]!OK,0,false
		:: d2d[1 - h]!NO,0,false
		fi
	:: d2d[h]?CARRY,id,_ -> pushc(h, id)
	:: d2d[h]?GOP,_,_ ->
		st[h] = (arrsusp[h] -> SUSPENDED : RUNNING);
		d2w[h]!GO,0;
		flush(h)
	od
}

proctype Client()
{
	byte i = 0;

	do
	:: i < NORD ->
		if
		:: kind[i] = SUSPEND
		:: kind[i] = RESUME
		:: kind[i] = MIGRATE
		:: kind[i] = CLONE
		:: kind[i] = KILL
		fi;
		ord[loc]!i,0;
		rep?acked[i];
		i++
	:: else -> break
	od
}

init {
	st[0] = RUNNING;
	st[1] = GONE;
	atomic {
		run Daemon(0);
		run Daemon(1);
		run Worker(0, false, false);
		run Client()
	}
}

/* When everything is idle: the checks. */
active proctype Check()
{
	byte i;

	timeout ->
	i = 0;
	do
	:: i < NORD ->
		assert(acked[i] -> applied[i] == 1 : applied[i] == 0);
		i++
	:: else -> break
	od;
	assert(st[0] != MOVINGS && st[0] != HELD && st[0] != STARTING);
	assert(st[1] != MOVINGS && st[1] != HELD && st[1] != STARTING);
	assert(qn[0] + qn[1] + bn[0] + bn[1] + cn[0] + cn[1] == 0);
	/* The agent is as its acknowledged orders left it. */
	bool want = false, killed = false;
	i = 0;
	do
	:: i < NORD ->
		if
		:: acked[i] && kind[i] == SUSPEND -> want = true
		:: acked[i] && kind[i] == RESUME -> want = false
		:: acked[i] && kind[i] == KILL -> killed = true
		:: else -> skip
		fi;
		i++
	:: else -> break
	od;
	assert(killed == !alive);
	assert(killed || wsusp == want)
}

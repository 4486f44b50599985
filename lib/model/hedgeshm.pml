/*
 * The hedge protocol of hedgeshm as a Promela model, checked with spin (check.sh). One slot
 * (one position), two bot processes that crash and restart, the syncer, the broker, time and
 * an operator. docs/model.md maps every process and variable to the C code it stands for
 * (lib/slot.c, tools/syncer/reconcile.c and orphan.c, the bot protocol of docs/reconcile.md
 * and tools/hedge-demo.c) and states the assumptions.
 *
 * Properties:
 *   - never two open hedges for the position: assert in Broker, at every fill;
 *   - fencing: a token is accepted (activate, reset, release) only while the lock that made
 *     it is the slot's current lock: assert in accept();
 *   - no slot stuck: ltl stuck, a HEDGING slot whose owner is dead or whose lease ran out
 *     eventually leaves HEDGING (checked with weak fairness).
 *
 * Hedges are named by the tag they carry: the generation of the lock that sent their order.
 * A lock sends at most one order, so that name is also the hedge's identifier (its ticket).
 */

#define AVAILABLE 0
#define HEDGING   1
#define ACTIVE    2
#define ERROR     3

/* Bounds. Every run is finite because the slot's generation is (the library's -EOVERFLOW:
 * a lock needs three generations left, mark_error two, the rest one). Masks are 16 bits. */
#ifndef MAXGEN
#define MAXGEN 6
#endif
#define NBOTS 2
#ifndef RESTARTS
#define RESTARTS 1 /* bot restarts, as a new process; 0 or 1 (Broker lists the identities) */
#endif
#ifndef KILLS
#define KILLS 2 /* SIGKILLs, to bots and the syncer together */
#endif
#ifndef OUTAGES
#define OUTAGES 1 /* syncer cycles on a degraded feed */
#endif
#define SYNCER_RESTARTS 1

/* Process identities (the slot's owner field): 0 none, 1..NBOTS the first bots, then
 * restarted bots, then the syncer's incarnations. A restarted process is a new identity: its
 * process-table entry, pid and start time differ, so it does not own the old locks. */
#define FIRST_SYNCER (NBOTS + RESTARTS + 1)
#define IDS          (FIRST_SYNCER + SYNCER_RESTARTS + 1)

#define BIT(t) (1 << (t))

/* What a bot's order call returns (tools/mt5sim/client.h). */
#define NONE     0
#define FILLED   1
#define REJECTED 2
#define LOST     3 /* MS_UNKNOWN: the reply was lost */

/* The slot: its state word and the payload fields the protocol reads. */
byte st = AVAILABLE;
byte gen = 0;
byte owner = 0;
bit writing = 0; /* WRITING: the winner of the last CAS has not published yet */
bit expired = 0; /* the lease of the current lock ran out */
byte token = 0;  /* generation of the last lock (the low bits of its token) */
byte ticket = 0; /* ACTIVE: the hedge's identifier */

bit alive[IDS];
chan sigkill = [0] of { byte }; /* rendezvous: the victim dies in the same step as the kill */
byte sid;                       /* the syncer's current identity */

/* The broker. Filled and pending orders are both open hedges here: both count as a hedge. */
short bopen = 0;    /* bit t: the hedge tagged t is open */
byte nopen = 0;
short inflight = 0; /* bit t: the order tagged t is sent and not yet at the broker */
byte ord[FIRST_SYNCER]; /* per bot identity: the tag of its order in flight, or 0 */
byte reply[FIRST_SYNCER];

/*
 * Time, as the grace points of the last lock (docs/reconcile.md: settled(t) is "snapshot time
 * > t + grace"). A snapshot records which of them had passed when it was taken.
 *   lock_g   lock + grace. Passes whenever it likes: a bot may be slower than that.
 *   send_g   the lock's order sent + grace. Assumption: an order shows in every snapshot taken
 *            more than grace after it was sent, so this passes only once it is at the broker.
 *   quiet_g  quiet time + grace (orphan.c): the owner is dead or its lease ran out, and a dead
 *            bot sends nothing more, a live one nothing after its lease (it checks the lease
 *            as it sends). So this passes only once the lock's order, if any, is at the broker.
 */
bit lock_g = 0;
bit sent = 0; /* the last lock's order was sent */
bit send_g = 0;
bit quiet_g = 0;

/* The sync block: the syncer published (health OK) a snapshot it reconciled that was taken
 * past the last lock's send_g. Bots compare the published time with their own. */
bit published = 0;

/* What the syncer's snapshot of this pass has in common with the slot now: nothing changed
 * since (settled for rule 1 and rule 2), or at least the same lock (rules 3, 4 and 7). Kept
 * here because every transition must clear them; they mean nothing outside a pass. */
bit snap_same_gen = 0;
bit snap_same_lock = 0;

byte curlock = 0; /* ghost: the lock the slot's current HEDGING/ACTIVE belongs to, or 0 */

byte kills = 0;
byte restarts = 0;
byte outages = 0;
byte srestarts = 0;

/* Reachability witnesses for check.sh: not part of the state, only proof that the
 * interesting branches ran (a claim that holds because nothing happened proves nothing). */
hidden byte w;

#define LOST_OWNER (!alive[owner] || expired) /* dead, or the lease ran out */
#define orphan     (st == HEDGING && LOST_OWNER)
ltl stuck { [] (orphan -> <> (st != HEDGING)) }

/* Fencing (lib/slot.c token_is_current): the transition being accepted with token tk must
 * belong to the lock that is current. */
inline accept(tk)
{
        assert(tk == curlock)
}

/* lib/slot.c decide_lock, with the generation reserve. Inside an atomic. */
inline lock(who, tk, ok)
{
        if
        :: st == AVAILABLE && !writing && gen + 3 <= MAXGEN ->
                gen++;
                st = HEDGING;
                owner = who;
                token = gen;
                expired = 0;
                curlock = gen;
                lock_g = 0;
                sent = 0;
                send_g = 0;
                quiet_g = 0;
                published = 0;
                snap_same_gen = 0;
                snap_same_lock = 0;
                tk = gen;
                ok = 1
        :: else -> ok = 0
        fi
}

/* decide_activate: HEDGING at tk -> ACTIVE. A WRITING word makes the caller wait, bounded;
 * here it is the -EAGAIN that ends such a wait, which is one of its outcomes. */
inline activate(tk, id, ok)
{
        if
        :: st == HEDGING && gen == tk && !writing ->
                accept(tk);
                gen++;
                st = ACTIVE;
                ticket = id;
                expired = 0;
                quiet_g = 0;
                snap_same_gen = 0;
                ok = 1
        :: else -> ok = 0
        fi
}

/* Back to AVAILABLE: the fields only HEDGING and ACTIVE mean anything by are cleared. */
inline to_available()
{
        gen++;
        st = AVAILABLE;
        owner = 0;
        ticket = 0;
        expired = 0;
        lock_g = 0;
        sent = 0;
        send_g = 0;
        quiet_g = 0;
        published = 0;
        snap_same_gen = 0;
        curlock = 0
}

/* decide_reset: HEDGING at tk or ACTIVE at tk + 1 -> AVAILABLE. */
inline reset(tk, ok)
{
        if
        :: ((st == HEDGING && gen == tk) || (st == ACTIVE && gen == tk + 1)) && !writing ->
                accept(tk);
                to_available();
                ok = 1
        :: else -> ok = 0
        fi
}

/* decide_release (hshm_release): HEDGING at tk only -> AVAILABLE. */
inline release(tk, ok)
{
        if
        :: st == HEDGING && gen == tk && !writing ->
                accept(tk);
                to_available();
                ok = 1
        :: else -> ok = 0
        fi
}

/* decide_error; takes no token. (The library keeps owner and ticket as evidence for the
 * operator; nothing here reads them in ERROR.) */
inline mark_error(ok)
{
        if
        :: st != ERROR && !writing && gen + 2 <= MAXGEN ->
                gen++;
                st = ERROR;
                owner = 0;
                ticket = 0;
                expired = 0;
                lock_g = 0;
                sent = 0;
                send_g = 0;
                quiet_g = 0;
                published = 0;
                snap_same_gen = 0;
                curlock = 0;
                ok = 1
        :: else -> ok = 0
        fi
}

/*
 * A bot's unknown outcome (hshm_settle_unknown, lib/settle.c): wait until the syncer
 * published a snapshot taken more than grace after the order was sent, then read the slot. HEDGING at its lock means the syncer saw no
 * hedge of this lock in that snapshot (rule 3 would have adopted it), so nothing filled, and
 * the bot releases (hshm_release: should the syncer adopt in between, it is refused). ACTIVE
 * at the next generation means adopted; anything else moved on. Or the wait times out and
 * the slot stays HEDGING, held by a live bot, until its lease runs out.
 */
inline settle_unknown()
{
        if
        :: atomic { (published || token != tok) -> ok = st == HEDGING && gen == tok }
           atomic {
                if
                :: ok -> release(tok, ok);
                         if
                         :: ok -> w = 1 /* unknown outcome released by its bot */
                         :: else
                         fi
                :: else
                fi;
                tok = 0;
                ok = 0
           }
        :: atomic { tok = 0 } /* the wait ran out: undecided */
        fi
}

/* A bot (hedge-demo.c run_bot with the checks of docs/reconcile.md "what bots may rely on"),
 * killed at any point by Killer through sigkill. */
proctype Bot(byte first)
{
        byte me = first;
        byte tok = 0;
        bit ok = 0;

        do
        :: {
end_idle:
                do
                :: atomic { /* hshm_lock: the CAS */
                        st == AVAILABLE && !writing && gen + 3 <= MAXGEN ->
                        lock(me, tok, ok);
                        writing = 1;
                        ok = 0
                   }
                   writing = 0; /* hshm_lock: the payload is written, publish */
                   if
                   :: atomic { /* checked as the tagged order goes out: still its lock,
                                * and within the lease */
                        st == HEDGING && gen == tok && !expired ->
                        ord[me] = tok;
                        inflight = inflight | BIT(tok);
                        sent = 1
                      }
                      /* The reply, and what the bot does on it in the same step: dying
                       * between the two is dying before the reply, as the reply dies too. */
                      if
                      :: atomic { reply[me] == FILLED -> reply[me] = NONE;
                                activate(tok, tok, ok);
                                if
                                :: ok -> writing = 1
                                :: else /* HSHM_ESTATE: the syncer adopted it first */
                                fi
                         }
                         atomic {
                                if
                                :: ok -> writing = 0 /* publish */
                                :: else
                                fi;
                                tok = 0;
                                ok = 0
                         }
                      :: atomic { reply[me] == REJECTED -> reply[me] = NONE;
                                reset(tok, ok);
                                tok = 0;
                                ok = 0
                         }
                      :: atomic { reply[me] == LOST -> reply[me] = NONE }
                         settle_unknown()
                      fi
                   :: atomic { /* the lease ran out first (or the lock was taken from it):
                                * send nothing, give the lock back */
                        !(st == HEDGING && gen == tok && !expired) -> reset(tok, ok);
                        tok = 0;
                        ok = 0
                      }
                   fi
                od
           } unless {
                atomic {
                        sigkill?eval(me) -> kills++;
                        alive[me] = 0;
                        reply[me] = NONE;
                        tok = 0;
                        ok = 0
                }
           }
           if
           :: atomic { restarts < RESTARTS -> restarts++;
                        me = NBOTS + restarts;
                        alive[me] = 1 }
           :: else -> break
           fi
        od
}

/* The broker: orders reach it and fill or are rejected, replies may be lost, and an open
 * hedge may close at any time (stop-loss, take-profit). */
inline deliver(i)
{
        t = ord[i];
        ord[i] = 0;
        inflight = inflight & ~BIT(t);
        if
        :: bopen = bopen | BIT(t);
           nopen++;
           assert(nopen <= 1); /* never two open hedges for the position */
           res = FILLED
        :: res = REJECTED
        fi;
        if
        :: alive[i] ->
                if
                :: reply[i] = res
                :: reply[i] = LOST
                fi
        :: else
        fi;
        t = 0;
        res = 0
}

proctype Broker()
{
        byte t = 0, res = 0;

end_broker:
        do
        :: atomic { ord[1] != 0 -> deliver(1) }
        :: atomic { ord[2] != 0 -> deliver(2) }
#if RESTARTS >= 1
        :: atomic { ord[3] != 0 -> deliver(3) }
#endif
        :: d_step {
                bopen != 0 -> t = 1;
                do
                :: (bopen & BIT(t)) == 0 -> t++
                :: else -> break
                od;
                bopen = bopen & ~BIT(t);
                nopen--;
                t = 0
           }
        od
}

/* Time passing: the grace points of the last lock (see above) and its lease. */
proctype Clock()
{
end_clock:
        do
        :: atomic { (st == HEDGING || st == ACTIVE) && !lock_g -> lock_g = 1 }
        :: atomic { lock_g && sent && !send_g && (inflight & BIT(token)) == 0 -> send_g = 1 }
        :: atomic {
                lock_g && !quiet_g && st == HEDGING && !writing && LOST_OWNER &&
                (inflight & BIT(token)) == 0 -> quiet_g = 1
           }
        :: atomic { st == HEDGING && !expired -> expired = 1 }
        od
}

/* SIGKILL: to a live bot at any moment, or to the syncer, which is restarted. Or no more. */
proctype Killer()
{
end_killer:
        do
        :: atomic { kills < KILLS && alive[1] -> sigkill!1 }
        :: atomic { kills < KILLS && alive[2] -> sigkill!2 }
#if RESTARTS >= 1
        :: atomic { kills < KILLS && alive[3] -> sigkill!3 }
#endif
        :: atomic {
                kills < KILLS && srestarts < SYNCER_RESTARTS && alive[sid] -> sigkill!sid
           }
        :: break
        od
}

/* The operator (`hedgectl clear`, docs/reconcile.md rule E): clears an ERROR slot once the
 * broker holds no hedge of the position (closing the extra one is the operator's job; here
 * the broker closes it in its own time). */
proctype Operator()
{
end_operator:
        do
        :: atomic {
                st == ERROR && !writing && bopen == 0 && gen + 1 <= MAXGEN ->
                gen++;
                st = AVAILABLE;
                snap_same_gen = 0;
                w = 2 /* cleared */
           }
        od
}

/* What the syncer decided from its snapshot and its read of the slot. */
#define DO_NOTHING      0
#define DO_ADOPT        1 /* rule 2: lock, then activate with hedge x */
#define DO_ERROR        2 /* rule 4: read again, then mark ERROR */
#define DO_ACTIVATE     3 /* rule 3: activate the lock's own hedge */
#define DO_ADOPT_ORPHAN 4 /* rule 7, the lock's hedge is open: as rule 3 */
#define DO_RELEASE      5 /* rule 7: nothing of the lock at the broker, hshm_release */
#define DO_RESET        6 /* rule 1: the hedge closed, hshm_reset */

/* settled(t) for the lock the syncer read (reconcile.c settled): the snapshot saw that lock,
 * and the grace point of t had passed when it was taken. */
#define SETTLED_LOCK   (snap_same_lock && s_lock_g)
#define SETTLED_QUIET  (snap_same_lock && s_quiet_g)
#define SETTLED_CHANGE snap_same_gen /* the slot's last change, and rule 1's activation */

/* Forget a pass. */
inline forget()
{
        s_open = 0; snap_same_gen = 0; snap_same_lock = 0;
        s_lock_g = 0; s_send_g = 0; s_quiet_g = 0;
        r_gen = 0; act = DO_NOTHING; ok = 0; x = 0; tk = 0; fresh = 0
}

/* The end of a pass: publish the snapshot's time in the sync block (health OK). */
inline publish()
{
        if
        :: s_send_g && snap_same_lock -> published = 1
        :: else
        fi;
        forget()
}

/* The lowest tag in mask m, into x. */
inline lowest(m)
{
        x = 1;
        do
        :: (m & BIT(x)) == 0 -> x++
        :: else -> break
        od
}

/*
 * Read the slot (hshm_slot_status, hshm_owner_liveness, hshm_lease_expired) and judge it
 * against the snapshot (reconcile.c judge_slots). Tags newer than the slot's lock (rule 5d)
 * cannot occur: the snapshot was taken before the read, and tags only come from locks.
 */
inline judge()
{
        r_gen = gen;
        if
        :: writing -> skip /* -EAGAIN: skipped this pass (raced) */
        :: !writing && st == AVAILABLE && s_open != 0 && SETTLED_CHANGE ->
                if
                :: (s_open & (s_open - 1)) == 0 -> /* rule 2: exactly one tagged hedge */
                        lowest(s_open);
                        act = DO_ADOPT
                :: else -> act = DO_ERROR /* rule 4b */
                fi
        :: !writing && st == HEDGING ->
                other = s_open & ~BIT(token); /* hedges of older locks */
                if
                :: other != 0 && SETTLED_LOCK -> act = DO_ERROR /* 4c */
                :: (s_open & BIT(token)) != 0 && SETTLED_LOCK && other == 0 ->
                        if /* rule 3, or rule 7's adoption */
                        :: LOST_OWNER -> act = DO_ADOPT_ORPHAN
                        :: else -> act = DO_ACTIVATE
                        fi
                :: s_open == 0 && SETTLED_QUIET && LOST_OWNER -> act = DO_RELEASE /* rule 7 */
                :: else /* waiting: for the grace, the quiet time, or the owner */
                fi;
                other = 0
        :: !writing && st == ACTIVE ->
                other = s_open & ~BIT(ticket);
                if
                :: (other & BIT(token)) != 0 || (other != 0 && SETTLED_LOCK) ->
                        act = DO_ERROR /* 4a */
                :: other == 0 && (s_open & BIT(ticket)) == 0 && SETTLED_CHANGE ->
                        act = DO_RESET /* rule 1: closed after the activation */
                :: else
                fi;
                other = 0
        :: else /* AVAILABLE with no tagged hedge, or not settled(change); ERROR: left alone */
        fi;
        /* What acting needs is in act, r_gen and x; publishing, in s_send_g. */
        s_open = 0;
        s_lock_g = 0;
        s_quiet_g = 0;
        snap_same_gen = 0
}

/*
 * hedge-syncer: every cycle repairs dead writers (hshm_repair), then either finds the feed
 * degraded and does nothing at all (rule 6), or takes the terminal's snapshot, reads the
 * slot after it (the snapshot is always older than the read), acts with one fenced
 * transition, and publishes the snapshot's time in the sync block.
 */
proctype Syncer()
{
        short s_open = 0, other = 0;
        bit s_lock_g = 0, s_send_g = 0, s_quiet_g = 0; /* the snapshot: hedges, grace points */
        byte r_gen = 0;               /* the slot's generation as read */
        bit ok = 0, fresh = 0;
        byte act = DO_NOTHING, tk = 0, x = 0;

end_cycle:
        do
        :: {
                atomic {
                        if /* hshm_repair: complete a dead writer's transition */
                        :: writing && !alive[owner] && st == HEDGING ->
                                writing = 0; /* an interrupted lock: HEDGING, locked and */
                                lock_g = 0;  /* its lease over at the time of the repair */
                                expired = 1;
                                w = 9
                        :: writing && !alive[owner] && st == ACTIVE ->
                                writing = 0;
                                gen++;      /* an interrupted activate: ERROR, as its */
                                st = ERROR; /* ticket may be torn */
                                owner = 0;
                                ticket = 0;
                                lock_g = 0;
                                sent = 0;
                                send_g = 0;
                                published = 0;
                                snap_same_gen = 0;
                                curlock = 0;
                                w = 10
                        :: else
                        fi;
                        if
                        :: outages < OUTAGES -> outages++ /* degraded: nothing at all */
                        :: true -> /* the terminal writes a snapshot */
                                fresh = 1;
                                s_open = bopen;
                                snap_same_gen = 1;
                                snap_same_lock = 1;
                                s_lock_g = lock_g;
                                s_send_g = send_g;
                                s_quiet_g = quiet_g
                        fi
                }
                if
                :: fresh ->
                        atomic {
                                fresh = 0;
                                judge();
                                if
                                :: act == DO_NOTHING -> publish()
                                :: else
                                fi
                        }
                        if
                        :: act == DO_ADOPT ->
                                atomic { lock(sid, tk, ok) }
                                atomic {
                                        if
                                        :: ok -> activate(tk, x, ok);
                                                if
                                                :: ok -> w = 4 /* rule 2 adoption */
                                                :: else -> reset(tk, ok) /* give it back */
                                                fi
                                        :: else
                                        fi;
                                        publish()
                                }
                        :: act == DO_ERROR ->
                                atomic { /* read again: act only if nothing changed */
                                        ok = gen == r_gen
                                }
                                atomic {
                                        if
                                        :: ok -> mark_error(ok);
                                                if
                                                :: ok -> w = 3 /* duplicate marked */
                                                :: else
                                                fi
                                        :: else
                                        fi;
                                        publish()
                                }
                        :: act == DO_ACTIVATE ->
                                atomic {
                                        activate(r_gen, r_gen, ok);
                                        if
                                        :: ok -> w = 6 /* lost reply adopted */
                                        :: else
                                        fi;
                                        publish()
                                }
                        :: act == DO_ADOPT_ORPHAN ->
                                atomic {
                                        activate(r_gen, r_gen, ok);
                                        if
                                        :: ok -> w = 5 /* orphan adopted */
                                        :: else
                                        fi;
                                        publish()
                                }
                        :: act == DO_RELEASE ->
                                atomic {
                                        release(r_gen, ok);
                                        if
                                        :: ok -> w = 7 /* orphan released */
                                        :: else
                                        fi;
                                        publish()
                                }
                        :: act == DO_RESET ->
                                atomic {
                                        tk = r_gen - 1; /* ACTIVE at lock + 1 */
                                        reset(tk, ok);
                                        if
                                        :: ok -> w = 8 /* closed hedge reset */
                                        :: else
                                        fi;
                                        publish()
                                }
                        :: act == DO_NOTHING
                        fi
                :: else /* degraded */
                fi
           } unless {
                atomic { /* killed; its supervisor starts a new one */
                        sigkill?eval(sid) -> kills++;
                        alive[sid] = 0;
                        srestarts++;
                        sid++;
                        alive[sid] = 1;
                        forget()
                }
           }
        od
}

init
{
        atomic {
                alive[1] = 1;
                alive[2] = 1;
                sid = FIRST_SYNCER;
                alive[sid] = 1;
                run Broker();
                run Clock();
                run Killer();
                run Operator();
                run Syncer();
                run Bot(1);
                run Bot(2)
        }
}

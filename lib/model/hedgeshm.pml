/*
 * The hedge protocol of hedgeshm as a Promela model, checked with spin (check.sh). One slot
 * (one position), two bot processes that crash and restart, the syncer, the broker, the clock
 * and an operator. docs/model.md maps every process and variable to the C code it stands for
 * (lib/slot.c, tools/syncer/reconcile.c, tools/hedge-demo.c), and lists the assumptions.
 *
 * Properties:
 *   - never two open hedges for the position: assert in Broker, at every fill;
 *   - fencing: a token is accepted (activate, reset) only while the lock that made it is the
 *     slot's current lock: assert in accept();
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
#define MAXGEN 8
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
bit writing = 0;  /* WRITING: the winner of the last CAS has not published yet */
bit expired = 0;  /* the lease of the current lock ran out */
byte token = 0;   /* generation of the last lock (the low bits of its token) */
byte ticket = 0;  /* ACTIVE, ERROR: the hedge's identifier */

bit alive[IDS];
bit kill[IDS];     /* a SIGKILL is on its way to this process */
byte sid;          /* the syncer's current identity */

/* The broker. Filled and pending orders are both open hedges here: both count as a hedge. */
short bopen = 0;         /* bit t: the hedge tagged t is open */
byte nopen = 0;
short inflight = 0;      /* bit t: the order tagged t is sent and not yet at the broker */
byte ord[FIRST_SYNCER];  /* per bot identity: the tag of its order in flight, or 0 */
byte reply[FIRST_SYNCER];

/* Time, abstracted to the grace points of locks. The assumption the real system rests on:
 * by lock + grace, the lock's order (if any) has reached the broker and shows in its
 * snapshots. So the clock passes lock t's grace point only when t's order is not in flight
 * and t's bot, if alive, has sent it. */
byte graced = 0;    /* every lock up to this generation is past its grace point */
short unsent = 0;   /* bit t: lock t's bot is alive and has not sent its order, nor given up */
byte lastlock = 0;

byte published = 0; /* sync block: graced of the newest snapshot reconciled, health OK */

byte curlock = 0;   /* ghost: the lock the slot's current HEDGING/ACTIVE belongs to, or 0 */

byte kills = 0;
byte restarts = 0;
byte outages = 0;
byte srestarts = 0;

/* Reachability witnesses for check.sh: not part of the state, only proof that the
 * interesting branches ran (a claim that holds because nothing happened proves nothing). */
hidden byte w;

#define orphan (st == HEDGING && (!alive[owner] || expired))
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
                lastlock = gen;
                curlock = gen;
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
                ok = 1
        :: else -> ok = 0
        fi
}

/* decide_reset: HEDGING at tk or ACTIVE at tk + 1 -> AVAILABLE. */
inline reset(tk, ok)
{
        if
        :: ((st == HEDGING && gen == tk) || (st == ACTIVE && gen == tk + 1)) && !writing ->
                accept(tk);
                gen++;
                st = AVAILABLE;
                owner = 0;
                ticket = 0;
                curlock = 0;
                ok = 1
        :: else -> ok = 0
        fi
}

/* decide_error; takes no token. */
inline mark_error(ok)
{
        if
        :: st != ERROR && !writing && gen + 2 <= MAXGEN ->
                gen++;
                st = ERROR;
                curlock = 0;
                ok = 1
        :: else -> ok = 0
        fi
}

/* A bot's unknown outcome (hedge-demo.c settle_unknown): wait until the syncer published a
 * snapshot past lock + grace, then read the slot. HEDGING at its lock means the syncer saw no
 * hedge of this lock in that snapshot, so nothing filled and the bot resets. ACTIVE at the
 * next generation means the syncer adopted it; anything else moved on. Or the wait times out
 * and the slot stays HEDGING, held by a live bot, until its lease runs out. */
inline settle_unknown()
{
        if
        :: published >= tok ->
                atomic {
                        r_st = st;
                        r_gen = gen
                }
                if
                :: r_st == HEDGING && r_gen == tok ->
                        atomic {
                                reset(tok, ok);
                                if
                                :: ok -> w = 1 /* unknown outcome released by its bot */
                                :: else
                                fi
                        }
                :: else
                fi
        :: true -> skip /* SYNC_WAIT_MS ran out: undecided */
        fi
}

/* A bot (hedge-demo.c run_bot), killed at any point by Killer through kill[me]. */
proctype Bot(byte first)
{
        byte me = first;
        byte tok = 0;
        byte res = 0;
        byte r_st, r_gen;
        bit ok;

        do
        :: {
end_idle:
                do
                :: atomic {
                        st == AVAILABLE && !writing && gen + 3 <= MAXGEN ->
                        lock(me, tok, ok);
                        writing = 1; /* between the CAS and the publish of the payload */
                        unsent = unsent | BIT(tok)
                   }
                   writing = 0;
                   if
                   :: atomic { /* the tagged order goes out */
                        ord[me] = tok;
                        inflight = inflight | BIT(tok);
                        unsent = unsent & ~BIT(tok)
                      }
end_reply:
                      atomic {
                        reply[me] != NONE -> res = reply[me];
                        reply[me] = NONE
                      }
                      if
                      :: res == FILLED ->
                         atomic {
                                activate(tok, tok, ok);
                                if
                                :: ok -> writing = 1
                                :: else /* HSHM_ESTATE: the syncer adopted it first */
                                fi
                         }
                         if
                         :: ok -> writing = 0
                         :: else
                         fi
                      :: res == REJECTED -> atomic { reset(tok, ok) }
                      :: res == LOST ->
end_unknown:
                         settle_unknown()
                      fi
                   :: atomic { /* never sent (no connection): nothing at the broker */
                        unsent = unsent & ~BIT(tok);
                        reset(tok, ok)
                      }
                   fi;
                   atomic { tok = 0; res = 0; r_st = 0; r_gen = 0; ok = 0 }
                od
           } unless {
                atomic {
                        kill[me] -> alive[me] = 0;
                        kill[me] = 0;
                        unsent = unsent & ~BIT(tok); /* a dead bot sends nothing more */
                        reply[me] = NONE;
                        tok = 0; res = 0; r_st = 0; r_gen = 0; ok = 0
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

/* Time passing: grace points of locks, in lock order, and the lease of the current lock. */
proctype Clock()
{
end_clock:
        do
        :: atomic {
                graced < lastlock && (unsent & BIT(graced + 1)) == 0 &&
                (inflight & BIT(graced + 1)) == 0 -> graced++
           }
        :: atomic { st == HEDGING && !expired -> expired = 1 }
        od
}

/* SIGKILL: to a live bot at any moment, or to the syncer, which is restarted. Or no more. */
proctype Killer()
{
end_killer:
        do
        :: atomic { kills < KILLS && alive[1] -> kill[1] = 1; kills++ }
        :: atomic { kills < KILLS && alive[2] -> kill[2] = 1; kills++ }
#if RESTARTS >= 1
        :: atomic { kills < KILLS && alive[3] -> kill[3] = 1; kills++ }
#endif
        :: atomic {
                kills < KILLS && srestarts < SYNCER_RESTARTS && alive[sid] -> kill[sid] = 1;
                kills++
           }
        :: break
        od
}

/* The operator (`hedgectl clear`, docs/reconcile.md rule E): clears an ERROR slot once the
 * broker holds no hedge of the position. A person is slower than the grace, so every lock is
 * past its grace point by then. */
proctype Operator()
{
end_operator:
        do
        :: atomic {
                st == ERROR && !writing && bopen == 0 && inflight == 0 && graced == lastlock &&
                gen + 1 <= MAXGEN -> gen++;
                st = AVAILABLE;
                owner = 0;
                ticket = 0;
                w = 2 /* cleared */
           }
        od
}

/* Rule 4 (reconcile.c duplicate): read the slot again, mark ERROR if it did not change. */
inline duplicate()
{
        atomic {
                if
                :: st == r_st && gen == r_gen -> ok = 1
                :: else -> ok = 0
                fi
        }
        if
        :: ok -> atomic {
                        mark_error(ok);
                        if
                        :: ok -> w = 3 /* duplicate marked */
                        :: else
                        fi
                 }
        :: else
        fi
}

/* The lowest tag in mask m, into x. */
inline lowest(m)
{
        d_step {
                x = 1;
                do
                :: (m & BIT(x)) == 0 -> x++
                :: else -> break
                od
        }
}

/* Rules 2 and 4b: an AVAILABLE slot with tagged hedges. */
inline judge_available()
{
        if
        :: s_open != 0 && (s_open & (s_open - 1)) == 0 -> /* exactly one: adopt */
                lowest(s_open);
                atomic { lock(sid, tk, ok) }
                if
                :: ok -> atomic {
                                activate(tk, x, ok);
                                if
                                :: ok -> w = 4 /* rule 2 adoption */
                                :: else
                                fi
                         }
                         if
                         :: !ok -> atomic { reset(tk, ok) }
                         :: else
                         fi
                :: else
                fi
        :: s_open != 0 && (s_open & (s_open - 1)) != 0 -> duplicate()
        :: else
        fi
}

/* Rules 4c, 3 and the orphan rule: a HEDGING slot at lock r_gen. */
inline judge_hedging()
{
        if
        :: (s_open & ~BIT(r_gen)) != 0 && s_graced >= r_gen -> duplicate() /* 4c */
        :: else ->
                if
                :: (s_open & BIT(r_gen)) != 0 && s_graced >= r_gen ->
                        atomic { /* rule 3: adopt the lock's own hedge; an orphan's too */
                                activate(r_gen, r_gen, ok);
                                if
                                :: ok && r_orphan -> w = 5 /* orphan adopted */
                                :: ok && !r_orphan -> w = 6 /* lost reply adopted */
                                :: else
                                fi
                        }
                :: (s_open & BIT(r_gen)) == 0 && s_graced >= r_gen && r_orphan ->
                        atomic { /* orphan rule: no hedge of this lock, released */
                                reset(r_gen, ok);
                                if
                                :: ok -> w = 7 /* orphan released */
                                :: else
                                fi
                        }
                :: else /* waiting: for the grace, or for the owner */
                fi
        fi
}

/* Rules 4a and 1: an ACTIVE slot of lock r_tok with hedge r_ticket. */
inline judge_active()
{
        other = s_open & ~BIT(r_ticket);
        if
        :: (other & BIT(r_tok)) != 0 || (other != 0 && s_graced >= r_tok) -> duplicate() /* 4a */
        :: other == 0 && (s_open & BIT(r_ticket)) == 0 && s_gen >= r_gen ->
                atomic { /* rule 1: the hedge closed after the activation */
                        reset(r_tok, ok);
                        if
                        :: ok -> w = 8 /* closed hedge reset */
                        :: else
                        fi
                }
        :: else
        fi
}

/*
 * hedge-syncer: every cycle repairs dead writers (hshm_repair), then either finds the feed
 * degraded and does nothing at all (rule 6), or takes the terminal's snapshot, reads the
 * slot (after the snapshot: the snapshot is older than the read), judges it and publishes
 * the snapshot's time in the sync block.
 */
proctype Syncer()
{
        short s_open = 0, other = 0;
        byte s_graced = 0, s_gen = 0; /* the snapshot: hedges, time, slot generation then */
        byte r_st = 0, r_gen = 0, r_tok = 0, r_ticket = 0;
        bit r_orphan = 0, r_read = 0, ok = 0;
        byte tk = 0, x = 0;

end_cycle:
        do
        :: {
                atomic { /* hshm_repair: complete a dead writer's transition */
                        if
                        :: writing && !alive[owner] && st == HEDGING ->
                                writing = 0;
                                expired = 1;
                                w = 9
                        :: writing && !alive[owner] && st == ACTIVE ->
                                writing = 0;
                                st = ERROR;
                                curlock = 0;
                                w = 10
                        :: else
                        fi
                }
                if
                :: outages < OUTAGES -> outages++ /* degraded: nothing at all */
                :: true ->
                        d_step {
                                s_open = bopen;
                                s_graced = graced;
                                s_gen = gen
                        }
                        atomic { /* hshm_slot_status, with hshm_owner_liveness */
                                if
                                :: !writing ->
                                        r_read = 1;
                                        r_st = st;
                                        r_gen = gen;
                                        r_tok = token;
                                        r_ticket = ticket;
                                        r_orphan = !alive[owner] || expired
                                :: else -> r_read = 0 /* -EAGAIN: skipped, raced */
                                fi
                        }
                        if
                        :: r_read && r_st == AVAILABLE -> judge_available()
                        :: r_read && r_st == HEDGING -> judge_hedging()
                        :: r_read && r_st == ACTIVE -> judge_active()
                        :: else /* ERROR: left for a person; or unreadable this pass */
                        fi;
                        atomic {
                                if
                                :: s_graced > published -> published = s_graced
                                :: else
                                fi;
                                s_open = 0; other = 0; s_graced = 0; s_gen = 0;
                                r_st = 0; r_gen = 0; r_tok = 0; r_ticket = 0;
                                r_orphan = 0; r_read = 0; ok = 0; tk = 0; x = 0
                        }
                fi
           } unless {
                atomic { /* killed; its supervisor starts a new one */
                        kill[sid] -> alive[sid] = 0;
                        kill[sid] = 0;
                        srestarts++;
                        sid++;
                        alive[sid] = 1;
                        s_open = 0; other = 0; s_graced = 0; s_gen = 0;
                        r_st = 0; r_gen = 0; r_tok = 0; r_ticket = 0;
                        r_orphan = 0; r_read = 0; ok = 0; tk = 0; x = 0
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

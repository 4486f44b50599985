/*
 * The mt5sim line protocol, shared by the server and the client library: percent-encoding of
 * the text fields, strict number parsing, and the parsing of one request line. Everything here
 * is a pure function of its arguments (no I/O, no globals), so it is tested on its own and a
 * hostile line can do no more than earn an error. docs/mt5sim.md is the protocol's reference.
 */
#ifndef HEDGESHM_MT5SIM_PROTO_H
#define HEDGESHM_MT5SIM_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define MP_LINE_MAX        1024 /* bytes of one request or reply line, newline excluded */
#define MP_SYMBOL_MAX      31   /* bytes of a symbol after decoding (MT5's limit); at least 1 */
#define MP_COMMENT_MAX     63   /* bytes of a comment after decoding (the snapshot's limit) */
#define MP_VOLUME_MAX      100000.0
#define MP_FAULT_MS_MAX    3600000u /* an hour: longer faults are typing mistakes */
#define MP_FAULT_COUNT_MAX 1000000u

/* MT5 trade server return codes the simulator answers with. */
enum {
        MP_RET_REJECT = 10006,          /* TRADE_RETCODE_REJECT */
        MP_RET_DONE = 10009,            /* TRADE_RETCODE_DONE */
        MP_RET_INVALID = 10013,         /* TRADE_RETCODE_INVALID: the request is malformed */
        MP_RET_CONNECTION = 10031,      /* TRADE_RETCODE_CONNECTION: no connection */
        MP_RET_POSITION_CLOSED = 10036, /* TRADE_RETCODE_POSITION_CLOSED: no such position */
        MP_RET_LIMIT_POSITIONS = 10040, /* TRADE_RETCODE_LIMIT_POSITIONS */
};

enum mp_command {
        MP_ORDER,
        MP_CLOSE,
        MP_POSITIONS,
        MP_LEDGER,
        MP_FAULT,
        MP_STATS,
        MP_PING,
        MP_QUIT,
};

enum mp_fault {
        MP_FAULT_STALL,       /* no snapshot writes for value ms */
        MP_FAULT_DISCONNECT,  /* connected 0 and orders rejected 10031 for value ms */
        MP_FAULT_SEQ_BACK,    /* the next snapshot's sequence is lower than the last one */
        MP_FAULT_MALFORMED,   /* the next snapshot file is torn */
        MP_FAULT_LOSE_REPLY,  /* the next value fills are never answered */
        MP_FAULT_HANGUP,      /* the next value fills close the connection instead of answering */
        MP_FAULT_REJECT_RATE, /* value percent of orders are rejected 10006 from now on */
        MP_FAULT_CLEAR,       /* every fault above ends; the reject rate returns to its option */
};

struct mp_request {
        enum mp_command cmd;
        /* MP_ORDER */
        char symbol[MP_SYMBOL_MAX + 1];
        int type; /* 0 buy, 1 sell */
        double volume;
        uint64_t magic;
        char comment[MP_COMMENT_MAX + 1];
        /* MP_CLOSE */
        uint64_t identifier;
        /* MP_FAULT */
        enum mp_fault fault;
        uint64_t value;
};

/* Percent-encodes in (NUL-terminated) into out: every byte outside 0x21..0x7e, and '%', becomes
 * %XX. Returns 0, or -ENOSPC when out (size bytes, NUL included) is too small. */
int mp_pct_encode(const char *in, char *out, size_t size);

/* Decodes len bytes of in into out (NUL-terminated). Returns the decoded length, -EINVAL for a
 * '%' not followed by two hex digits, a raw space or control byte, or a decoded control byte
 * (NUL included), or -ENOSPC when the result does not fit size - 1 bytes. */
int mp_pct_decode(const char *in, size_t len, char *out, size_t size);

/* Strict unsigned decimal of len bytes: digits only, at most max. Returns 0 or -EINVAL. */
int mp_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);

/* Parses one request line (NUL-terminated, no newline). Words are separated by spaces or
 * tabs; command words and buy/sell are case-insensitive. Returns 0, or -EINVAL with why
 * filled (a short phrase naming the word at fault). */
int mp_parse_request(const char *line, struct mp_request *req, char *why, size_t why_len);

/* The fault's word on the wire ("stall", "lose_reply", ...), or NULL. */
const char *mp_fault_name(enum mp_fault fault);

/* Splits line in place at spaces and tabs into at most max words. Returns the number of words
 * found, or -E2BIG when there are more than max. */
int mp_split(char *line, char **words, int max);

#endif

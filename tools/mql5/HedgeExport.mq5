//+------------------------------------------------------------------+
//| HedgeExport.mq5: exports the account's positions, orders and     |
//| recent deals as a HEDGESNAP 1 snapshot file for hedge-syncer.    |
//+------------------------------------------------------------------+
//
// The format is docs/snapshot-format.md (hedgeshm). Every InpTimerMs milliseconds, and right
// after each trade transaction, the EA writes the whole snapshot to "<file>.tmp", closes it
// and moves it over "<file>" (FileMove with FILE_REWRITE, a rename(2) under Wine), so the
// syncer never reads half a file; the header, counts and the CRC-32 trailer catch the cases
// where that promise fails anyway. The sequence number grows on every write, even when
// nothing changed, so a stalled EA shows.
//
// Install and compile (MetaEditor command line; under Wine on Linux hosts):
//   1. Copy this file to <data folder>/MQL5/Experts/HedgeExport.mq5 (MetaTrader: File > Open
//      Data Folder; under Wine e.g. ~/.wine/drive_c/users/$USER/AppData/Roaming/MetaQuotes/
//      Terminal/<id>/MQL5/Experts/).
//   2. Compile, with a path free of spaces (paths with spaces fail silently):
//        wine "C:\Program Files\MetaTrader 5\MetaEditor64.exe" \
//             /compile:"C:\mt5data\MQL5\Experts\HedgeExport.mq5" /log
//      The exit code is unreliable: read HedgeExport.log next to the source and look for
//      "0 errors" (the log is UTF-16: iconv -f utf-16 -t utf-8 HedgeExport.log).
//   3. In the terminal, attach HedgeExport to any one chart (one instance per account and
//      file name) and allow nothing else: the EA trades nothing and needs no DLLs.
//   4. Point hedge-syncer at the file: <data folder>/MQL5/Files/<InpFileName>, or with
//      InpCommonFolder=true <Wine prefix>/drive_c/users/$USER/AppData/Roaming/MetaQuotes/
//      Terminal/Common/Files/<InpFileName>.
//
// Lines end in CR LF, written explicitly: in FILE_TXT mode FileWriteString inserts a CR before
// a bare LF, and the CRC must cover exactly the bytes in the file. All text written is ASCII
// (strings are percent-encoded from their UTF-8 bytes), so FILE_ANSI's code page conversion
// leaves it unchanged.
#property copyright "hedgeshm"
#property version   "1.00"
#property description "Writes positions, orders and recent deals as HEDGESNAP 1 snapshots"

input string InpFileName         = "hedgeshm-positions.snap"; // snapshot file (MQL5\Files)
input int    InpTimerMs          = 50;    // write interval, ms (10..60000)
input int    InpDealsLookbackSec = 300;   // deals of the last N seconds (0: none)
input bool   InpCommonFolder     = false; // write to the terminals' Common\Files folder

const string HEX = "0123456789ABCDEF";

uint   g_crc_table[256];
uint   g_crc;            // running CRC register of the file being written
ulong  g_seq = 0;        // the last sequence number written
long   g_gmt_second = 0; // the TimeGMT() second last seen
long   g_anchor_ms = 0;  // Unix ms at g_anchor_us
ulong  g_anchor_us = 0;  // GetMicrosecondCount() when TimeGMT() was seen to change
ulong  g_last_write_us = 0;
ulong  g_last_error_us = 0;
int    g_file_flags = 0; // FILE_COMMON or 0

//+------------------------------------------------------------------+
//| CRC-32 (IEEE, as zlib) over the characters written: all ASCII,   |
//| so one character is one byte of the file.                        |
//+------------------------------------------------------------------+
void CrcInit()
  {
   for(uint i = 0; i < 256; i++)
     {
      uint c = i;
      for(int k = 0; k < 8; k++)
         c = ((c & 1) != 0) ? ((uint)0xEDB88320 ^ (c >> 1)) : (c >> 1);
      g_crc_table[i] = c;
     }
  }

void CrcAdd(const string s)
  {
   int n = StringLen(s);
   for(int i = 0; i < n; i++)
      g_crc = g_crc_table[(int)((g_crc ^ (uint)StringGetCharacter(s, i)) & 0xFF)] ^ (g_crc >> 8);
  }

// Logs a failure, at most one line per 10 s: the timer would otherwise flood the journal.
void ReportError(const string what)
  {
   ulong now = GetMicrosecondCount();
   if(g_last_error_us != 0 && now - g_last_error_us < 10000000)
      return;
   g_last_error_us = now;
   PrintFormat("HedgeExport: %s (error %d)", what, GetLastError());
  }

//+------------------------------------------------------------------+
//| Numbers and strings in the snapshot's grammar.                   |
//+------------------------------------------------------------------+
// ulong in decimal: IntegerToString takes a long and would print values above 2^63 negative.
string U64(ulong v)
  {
   string s = "";
   do
     {
      s = CharToString((uchar)('0' + (int)(v % 10))) + s;
      v /= 10;
     }
   while(v > 0);
   return s;
  }

// A time or other non-negative long; a negative one (never seen) is written as 0.
string I64(long v)
  {
   return v > 0 ? IntegerToString(v) : "0";
  }

// A decimal: fixed notation with `digits` decimals. NaN or infinity would make the whole
// snapshot unreadable, so they are written as 0 and reported.
string Dec(double v, int digits, bool non_negative)
  {
   if(!MathIsValidNumber(v))
     {
      ReportError("a NaN or infinite value was written as 0");
      return "0";
     }
   if(non_negative && v <= 0)
      return "0";
   if(digits < 0 || digits > 8)
      digits = 8;
   return DoubleToString(v, digits);
  }

// Percent-encodes the UTF-8 bytes of s, at most max_bytes of them, cut at a character
// boundary. "-" is the empty string, so a string that is "-" is written "%2D".
string Enc(const string s, int max_bytes)
  {
   uchar b[];
   int n = StringToCharArray(s, b, 0, WHOLE_ARRAY, CP_UTF8);
   int len = 0;
   while(len < n && b[len] != 0)
      len++;
   if(len > max_bytes)
     {
      len = max_bytes;
      while(len > 0 && (b[len] & 0xC0) == 0x80) // b[len] continues a character: drop it all
         len--;
     }
   if(len == 0)
      return "-";
   if(len == 1 && b[0] == '-')
      return "%2D";
   string out = "";
   for(int i = 0; i < len; i++)
     {
      uchar c = b[i];
      if(c > 0x20 && c < 0x7F && c != '%')
         out += CharToString(c);
      else
         out += "%" + StringSubstr(HEX, c >> 4, 1) + StringSubstr(HEX, c & 15, 1);
     }
   return out;
  }

//+------------------------------------------------------------------+
//| Unix ms, UTC: the second from TimeGMT(), the milliseconds from   |
//| the microsecond counter since TimeGMT() was last seen to change. |
//| Late by at most one timer period; never ahead of TimeGMT().      |
//+------------------------------------------------------------------+
long NowMs()
  {
   ulong us = GetMicrosecondCount();
   long second = (long)TimeGMT();
   if(second != g_gmt_second)
     {
      g_gmt_second = second;
      g_anchor_ms = second * 1000;
      g_anchor_us = us;
     }
   long ms = g_anchor_ms + (long)((us - g_anchor_us) / 1000);
   if(ms > second * 1000 + 999)
      ms = second * 1000 + 999;
   return ms;
  }

//+------------------------------------------------------------------+
//| The records, collected first: the header counts precede them.    |
//+------------------------------------------------------------------+
void Push(string &lines[], int &n, const string line)
  {
   if(n >= ArraySize(lines))
      ArrayResize(lines, n + 1, 1024);
   lines[n++] = line;
  }

int CollectPositions(string &lines[])
  {
   int n = 0;
   int total = PositionsTotal();
   for(int i = 0; i < total; i++)
     {
      ulong ticket = PositionGetTicket(i); // selects the position
      if(ticket == 0)
         continue; // closed since PositionsTotal()
      ulong id = (ulong)PositionGetInteger(POSITION_IDENTIFIER);
      string symbol = PositionGetString(POSITION_SYMBOL);
      if(id == 0 || symbol == "")
         continue;
      int digits = (int)SymbolInfoInteger(symbol, SYMBOL_DIGITS);
      long type = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_SELL ? 1 : 0;
      Push(lines, n, "P " + U64(ticket) + " " + U64(id) + " " +
           U64((ulong)PositionGetInteger(POSITION_MAGIC)) + " " + Enc(symbol, 31) + " " +
           IntegerToString(type) + " " + Dec(PositionGetDouble(POSITION_VOLUME), 8, true) + " " +
           Dec(PositionGetDouble(POSITION_PRICE_OPEN), digits, false) + " " +
           I64(PositionGetInteger(POSITION_TIME_MSC)) + " " +
           Enc(PositionGetString(POSITION_COMMENT), 63) + "\r\n");
     }
   return n;
  }

int CollectOrders(string &lines[])
  {
   int n = 0;
   int total = OrdersTotal();
   for(int i = 0; i < total; i++)
     {
      ulong ticket = OrderGetTicket(i); // selects the order
      if(ticket == 0)
         continue;
      long type = OrderGetInteger(ORDER_TYPE);
      string symbol = OrderGetString(ORDER_SYMBOL);
      if(type < 0 || type > 8 || symbol == "")
         continue; // a type this format does not know
      Push(lines, n, "O " + U64(ticket) + " " +
           U64((ulong)OrderGetInteger(ORDER_POSITION_ID)) + " " +
           U64((ulong)OrderGetInteger(ORDER_MAGIC)) + " " + Enc(symbol, 31) + " " +
           IntegerToString(type) + " " + Dec(OrderGetDouble(ORDER_VOLUME_CURRENT), 8, true) +
           " " + I64(OrderGetInteger(ORDER_TIME_SETUP_MSC)) + " " +
           Enc(OrderGetString(ORDER_COMMENT), 63) + "\r\n");
     }
   return n;
  }

int CollectDeals(string &lines[])
  {
   int n = 0;
   if(InpDealsLookbackSec <= 0)
      return 0;
   // History times are the server's clock; the end lies ahead to include deals just made.
   datetime server = TimeTradeServer();
   if(!HistorySelect(server - InpDealsLookbackSec, server + 3600))
     {
      ReportError("HistorySelect failed");
      return 0;
     }
   int total = HistoryDealsTotal();
   for(int i = 0; i < total; i++)
     {
      ulong ticket = HistoryDealGetTicket(i);
      if(ticket == 0)
         continue;
      long type = HistoryDealGetInteger(ticket, DEAL_TYPE);
      ulong position = (ulong)HistoryDealGetInteger(ticket, DEAL_POSITION_ID);
      string symbol = HistoryDealGetString(ticket, DEAL_SYMBOL);
      long entry = HistoryDealGetInteger(ticket, DEAL_ENTRY);
      if((type != DEAL_TYPE_BUY && type != DEAL_TYPE_SELL) || position == 0 || symbol == "" ||
         entry < 0 || entry > 3)
         continue; // balance, credit, commission...: no position to report
      Push(lines, n, "D " + U64(ticket) + " " +
           U64((ulong)HistoryDealGetInteger(ticket, DEAL_ORDER)) + " " + U64(position) + " " +
           U64((ulong)HistoryDealGetInteger(ticket, DEAL_MAGIC)) + " " + Enc(symbol, 31) + " " +
           (type == DEAL_TYPE_SELL ? "1" : "0") + " " + IntegerToString(entry) + " " +
           Dec(HistoryDealGetDouble(ticket, DEAL_VOLUME), 8, true) + " " +
           I64(HistoryDealGetInteger(ticket, DEAL_TIME_MSC)) + " " +
           Enc(HistoryDealGetString(ticket, DEAL_COMMENT), 63) + "\r\n");
     }
   return n;
  }

//+------------------------------------------------------------------+
//| Writing                                                          |
//+------------------------------------------------------------------+
bool Put(int h, const string s)
  {
   CrcAdd(s);
   return FileWriteString(h, s) > 0;
  }

bool WriteSnapshot()
  {
   string pos[], ord[], deal[];
   int np = CollectPositions(pos);
   int no = CollectOrders(ord);
   int nd = CollectDeals(deal);
   long now = NowMs();
   // Grows on every write, and stays above the last run's values after a restart.
   ulong seq = g_seq + 1;
   if((ulong)now > seq)
      seq = (ulong)now;
   g_seq = seq;
   g_last_write_us = GetMicrosecondCount();

   string tmp = InpFileName + ".tmp";
   int h = FileOpen(tmp, FILE_WRITE | FILE_TXT | FILE_ANSI | g_file_flags);
   if(h == INVALID_HANDLE)
     {
      ReportError("cannot open " + tmp);
      return false;
     }
   g_crc = (uint)0xFFFFFFFF;
   bool ok = Put(h, "HEDGESNAP 1\r\n") && Put(h, "seq " + U64(seq) + "\r\n") &&
             Put(h, "time_ms " + I64(now) + "\r\n") &&
             Put(h, "login " + U64((ulong)AccountInfoInteger(ACCOUNT_LOGIN)) + "\r\n") &&
             Put(h, "connected " + (TerminalInfoInteger(TERMINAL_CONNECTED) != 0 ? "1" : "0") +
                 "\r\n") &&
             Put(h, "margin_mode " + IntegerToString(AccountInfoInteger(ACCOUNT_MARGIN_MODE)) +
                 "\r\n") &&
             Put(h, "positions " + IntegerToString(np) + "\r\n") &&
             Put(h, "orders " + IntegerToString(no) + "\r\n") &&
             Put(h, "deals " + IntegerToString(nd) + "\r\n");
   for(int i = 0; ok && i < np; i++)
      ok = Put(h, pos[i]);
   for(int i = 0; ok && i < no; i++)
      ok = Put(h, ord[i]);
   for(int i = 0; ok && i < nd; i++)
      ok = Put(h, deal[i]);
   uint crc = ~g_crc;
   if(ok) // the trailer is not covered by the CRC
      ok = FileWriteString(h, "END " + U64(seq) + " " + StringFormat("%08x", crc) + "\r\n") > 0;
   FileClose(h);
   if(!ok)
     {
      ReportError("cannot write " + tmp);
      FileDelete(tmp, g_file_flags);
      return false;
     }
   if(!FileMove(tmp, g_file_flags, InpFileName, FILE_REWRITE | g_file_flags))
     {
      ReportError("cannot move " + tmp + " to " + InpFileName);
      return false;
     }
   return true;
  }

// The seq of the file a previous run left, so that seq keeps growing across restarts even if
// the clock went back; 0 if there is none.
ulong ReadLastSeq()
  {
   if(!FileIsExist(InpFileName, g_file_flags))
      return 0;
   int h = FileOpen(InpFileName, FILE_READ | FILE_TXT | FILE_ANSI | FILE_SHARE_READ |
                    g_file_flags);
   if(h == INVALID_HANDLE)
      return 0;
   string magic = FileReadString(h);
   string line = FileReadString(h);
   FileClose(h);
   if(magic != "HEDGESNAP 1" || StringSubstr(line, 0, 4) != "seq ")
      return 0;
   ulong v = 0;
   for(int i = 4; i < StringLen(line); i++)
     {
      ushort c = StringGetCharacter(line, i);
      if(c < '0' || c > '9' || v > 1844674407370955160)
         return 0;
      v = v * 10 + (ulong)(c - '0');
     }
   return v;
  }

//+------------------------------------------------------------------+
//| Events                                                           |
//+------------------------------------------------------------------+
int OnInit()
  {
   if(InpTimerMs < 10 || InpTimerMs > 60000 || InpDealsLookbackSec < 0 || InpFileName == "")
     {
      Print("HedgeExport: bad inputs (timer 10..60000 ms, lookback >= 0, a file name)");
      return INIT_PARAMETERS_INCORRECT;
     }
   g_file_flags = InpCommonFolder ? FILE_COMMON : 0;
   CrcInit();
   g_seq = ReadLastSeq();
   if(!EventSetMillisecondTimer(InpTimerMs))
     {
      ReportError("EventSetMillisecondTimer failed");
      return INIT_FAILED;
     }
   WriteSnapshot();
   PrintFormat("HedgeExport: writing %s every %d ms (seq from %s)", InpFileName, InpTimerMs,
               U64(g_seq));
   return INIT_SUCCEEDED;
  }

void OnDeinit(const int reason)
  {
   EventKillTimer();
  }

void OnTimer()
  {
   WriteSnapshot();
  }

// Fires several times per trade request: a reason to write early, not a source of truth.
// Writes closer than 5 ms apart are left to the next timer tick.
void OnTradeTransaction(const MqlTradeTransaction &trans, const MqlTradeRequest &request,
                        const MqlTradeResult &result)
  {
   if(GetMicrosecondCount() - g_last_write_us >= 5000)
      WriteSnapshot();
  }
//+------------------------------------------------------------------+

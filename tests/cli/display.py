"""Drives nnsim's live displays in a pty (tests/cli/display.sh).

A command runs on a pseudo-terminal of a set size; what it writes goes
through a small terminal emulator that knows what the displays use: CR,
LF, cursor up (CSI n A), erase line (CSI K) and erase below (CSI J), with
xterm's deferred autowrap and scrolling. The emulator records every line
that wrapped: a live line (the bar, the table) that wraps leaves its first
part behind when the cursor goes back up. A resize sets the pty's size
(the command gets SIGWINCH) and cuts the emulator's lines, as xterm does.

  display.py train COLS NEW_COLS CMD...
  display.py submit COLS AGENTCTL_PREFIX METRICS CMD...
  display.py attach COLS STEPS CMD...

Each prints "ok display/NAME" or "FAIL display/NAME: why" lines.
"""
import fcntl
import json
import os
import pty
import re
import select
import shlex
import signal
import struct
import subprocess
import sys
import termios
import time

ROWS = 30
ROW = re.compile(r"^(\d+) +(\S+) +(\S+) +(queued|running|moving|done|failed)"
                 r" +(\d+) +(\d+) +[-\d]")
ROW_FULL = re.compile(r"^(\d+) +(\S+) +(\S+) +(\w+) +(\d+) +(\d+) +"
                      r"(-?[\d.]+) +([\d]+)$")
ROW_ANY = re.compile(r"^(\d+) +(\S+) +(\S+) +(queued|running|moving|done|"
                     r"failed)\b")
HEADER = re.compile(r"^(SESSION|PARTITION) +AGENT +HOST +STATE")
BAR = re.compile(r"\[[#.]+\]|ETA|samples/s \|")


def report(name, good, why=""):
    print(("ok display/%s" % name) if good else
          ("FAIL display/%s: %s" % (name, why)))
    sys.stdout.flush()


class Screen:
    """The screen and everything scrolled off it, as lines of text."""

    def __init__(self, cols, rows):
        self.cols, self.rows = cols, rows
        self.buf = [[]]
        self.y = 0              # cursor line, an index into buf
        self.x = 0
        self.pending = False    # deferred wrap: the last column was written
        self.wrapped = []       # text of the lines that wrapped
        self.esc = ""

    def top(self):
        return max(0, len(self.buf) - self.rows)

    def newline(self):
        self.y += 1
        if self.y == len(self.buf):
            self.buf.append([])

    def put(self, ch):
        if self.pending:
            self.wrapped.append("".join(self.buf[self.y]))
            self.pending = False
            self.x = 0
            self.newline()
        line = self.buf[self.y]
        while len(line) < self.x:
            line.append(" ")
        if self.x < len(line):
            line[self.x] = ch
        else:
            line.append(ch)
        if self.x == self.cols - 1:
            self.pending = True
        else:
            self.x += 1

    def csi(self, params, final):
        n = int(params) if params.isdigit() else 0
        if final == "A":
            self.y = max(self.top(), self.y - max(n, 1))
            self.pending = False
        elif final == "K":
            del self.buf[self.y][self.x:]
        elif final == "J":
            del self.buf[self.y][self.x:]
            del self.buf[self.y + 1:]

    def feed(self, text):
        for ch in text:
            if self.esc:
                self.esc += ch
                if self.esc == "\033[" or (len(self.esc) > 2 and
                                           not ch.isalpha()):
                    continue
                if self.esc.startswith("\033["):
                    self.csi(self.esc[2:-1], ch)
                self.esc = ""
            elif ch == "\033":
                self.esc = ch
            elif ch == "\r":
                self.x, self.pending = 0, False
            elif ch == "\n":
                self.pending = False
                self.newline()
            elif ch >= " ":
                self.put(ch)

    def resize(self, cols):
        self.cols = cols
        for line in self.buf:
            del line[cols:]
        self.x = min(self.x, cols - 1)
        self.pending = False

    def lines(self, visible=False):
        rows = self.buf[self.top():] if visible else self.buf
        return ["".join(line).rstrip() for line in rows]


class Pty:
    """A command on a pty of cols x ROWS, its output fed to a Screen."""

    def __init__(self, argv, cols, env=None):
        self.screen = Screen(cols, ROWS)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            fcntl.ioctl(0, termios.TIOCSWINSZ,
                        struct.pack("HHHH", ROWS, cols, 0, 0))
            os.execvpe(argv[0], argv, env or os.environ)
        self.status = None
        self.raw = ""

    def pump(self, seconds):
        """Reads for up to seconds; False once the command has ended."""
        end = time.time() + seconds
        while self.status is None and time.time() < end:
            r, _, _ = select.select([self.fd], [], [], end - time.time())
            if not r:
                break
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                data = b""
            if not data:
                _, st = os.waitpid(self.pid, 0)
                self.status = os.waitstatus_to_exitcode(st)
                return False
            text = data.decode("utf-8", "replace")
            self.raw += text
            self.screen.feed(text)
            self.seen()
        return self.status is None

    def seen(self):
        """Called after each chunk: subclasses look at the screen."""

    def until(self, what, seconds):
        end = time.time() + seconds
        while time.time() < end:
            if what():
                return True
            if not self.pump(0.05):
                return what()
        return False

    def finish(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            if not self.pump(0.2):
                return self.status
        if self.status is not None:
            return self.status
        os.kill(self.pid, signal.SIGTERM)
        while self.pump(1):
            pass
        return self.status

    def resize(self, cols):
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", ROWS, cols, 0, 0))
        self.screen.resize(cols)


def live_wraps(screen):
    """Wrapped lines that belong to the bar or the table."""
    return [w for w in screen.wrapped
            if BAR.search(w) or HEADER.match(w) or ROW.match(w)]


def train(cols, new_cols, argv):
    p = Pty(argv, cols)
    bars = [0]

    def bar():
        return any(BAR.search(l) for l in p.screen.lines(True))
    # Some redraws at the first width, then the rest at the new one.
    p.until(bar, 20)
    p.pump(0.6)
    p.resize(new_cols)
    st = p.finish(60)
    lines = p.screen.lines()
    epochs = [l for l in lines if re.match(r"epoch \d+/\d+ loss", l)]
    n = int(re.search(r"epoch \d+/(\d+)", epochs[-1]).group(1)) \
        if epochs else 0
    left = [l for l in lines if BAR.search(l)]
    wraps = live_wraps(p.screen)
    # Each redraw starts with CR and erase line: count them.
    bars[0] = p.raw.count("\r\033[K")
    report("train_exit", st == 0, "exit %s: %s" % (st, lines[-3:]))
    report("train_bar_fits_%d_then_%d" % (cols, new_cols),
           not wraps and bars[0] >= 5,
           "%d redraws; wrapped: %s" % (bars[0], wraps[:3]))
    report("train_no_trail",
           not left and n > 0 and len(epochs) == n and
           len(set(epochs)) == n,
           "%d epoch lines of %d, %d left from the bar: %s" %
           (len(epochs), n, len(left), (left or lines)[-3:]))


class Submit(Pty):
    """nnsim submit or attach: every table row seen, by index."""

    def __init__(self, argv, cols):
        self.rows_seen = {}     # index -> [(host, state, step, rate)]
        Pty.__init__(self, argv, cols)

    def seen(self):
        for l in self.screen.lines(True):
            m = ROW.match(l)
            if not m:
                continue
            full = ROW_FULL.match(l)
            row = (m.group(3), m.group(4), int(m.group(6)),
                   float(full.group(8)) if full else None)
            rows = self.rows_seen.setdefault(int(m.group(1)), [])
            if not rows or rows[-1] != row:
                rows.append(row)


def table_checks(p, st, cols, kind, n, steps, epochs, what):
    lines = p.screen.lines()
    headers = [l for l in lines if HEADER.match(l)]
    rows = [ROW_ANY.match(l) for l in lines if ROW_ANY.match(l)]
    wraps = live_wraps(p.screen)
    report("%s_exit" % what, st == 0, "exit %s: %s" % (st, lines[-4:]))
    report("%s_table_fits" % what, not wraps and len(p.rows_seen) == n,
           "%d rows seen of %d; wrapped: %s" % (len(p.rows_seen), n,
                                                wraps[:3]))
    once = (len(headers) == 1 and headers[0].startswith(kind) and
            sorted(int(r.group(1)) for r in rows) == list(range(n)))
    report("%s_table_once" % what, once,
           "headers %s, rows %s: %s" % (len(headers),
                                        [r.group(1) for r in rows],
                                        lines[-(n + 4):]))
    full = [ROW.match(l) for l in lines if ROW.match(l)]
    done = [r for r in full if r.group(4) == "done" and
            int(r.group(5)) == epochs and int(r.group(6)) == steps]
    report("%s_done_rows_final_step" % what, len(done) == n,
           "expected %d done rows at epoch %d, step %d: %s" %
           (n, epochs, steps, [r.group(0) for r in full]))


def redraws(p, n):
    """A test that n tables were drawn since now (each erases below)."""
    mark = len(p.raw)
    return lambda: p.raw[mark:].count("\033[J") >= n


def submit(cols, agentctl, metrics, argv):
    """A sweep at 120 columns (rates, a move), then 70, then 50."""
    p = Submit(argv, 120)
    ctl = shlex.split(agentctl)
    moved = {}

    def running():
        for i, rows in p.rows_seen.items():
            host, state, step, _ = rows[-1]
            if state == "running" and step > 0 and host == "h1":
                moved["i"] = i
                return True
        return False
    if not p.until(running, 30):
        report("submit_move", False, "no session ran on h1: %s" %
               p.screen.lines(True)[-6:])
        os.kill(p.pid, signal.SIGTERM)
        p.finish(10)
        return
    agent = [l for l in p.screen.lines(True)
             if ROW.match(l) and int(ROW.match(l).group(1)) == moved["i"]]
    agent = ROW.match(agent[-1]).group(2)
    mv = subprocess.run(ctl + ["migrate", agent, "h2"], capture_output=True,
                        text=True)

    def arrived():
        rows = p.rows_seen[moved["i"]]
        return rows[-1][0] == "h2" and rows[-1][1] == "running" and \
            rows[-1][2] > max(r[2] for r in rows if r[0] == "h1")
    p.until(arrived, 15)
    # Two redraws at cols, two at 50, then cols again to the end: the
    # done rows' steps show at cols.
    steps = int(os.environ["DISPLAY_STEPS"])
    p.resize(cols)
    p.until(redraws(p, 2), 10)
    p.resize(50)
    narrow = p.until(redraws(p, 2), 10)
    p.resize(cols)
    st = p.finish(90)
    report("submit_resized_mid_run", narrow,
           "the job ended before two redraws at 50 columns")
    ms = [json.loads(l) for l in open(metrics) if l.strip()]
    nsess = len([o for o in ms if o.get("event") == "session"])
    table_checks(p, st, cols, "SESSION", nsess, steps,
                 int(os.environ["DISPLAY_EPOCHS"]), "submit")
    rows = p.rows_seen.get(moved["i"], [])
    before = [r[2] for r in rows if r[0] == "h1"]
    after = [r[2] for r in rows if r[0] == "h2"]
    steps_seen = [r[2] for r in rows]
    report("submit_move_keeps_steps",
           mv.returncode == 0 and before and after and
           min(after) >= max(before) and steps_seen == sorted(steps_seen),
           "migrate: %s %s; steps on h1 %s, then on h2 %s" %
           (mv.returncode, mv.stderr.strip(), before[-3:], after[:3]))
    # The first rate each row showed, against its epochs' own rates.
    bad = []
    for i, rows in p.rows_seen.items():
        first = [r[3] for r in rows if r[3]]
        epochs = sorted(o["samples_per_sec"] for o in ms
                        if "epoch" in o and o.get("session") == i)
        if not first or not epochs:
            bad.append((i, "no rate", first[:1], len(epochs)))
            continue
        mid = epochs[len(epochs) // 2]
        if not mid / 10 <= first[0] <= mid * 10:
            bad.append((i, first[0], mid))
    report("submit_first_rates", not bad,
           "first table rate vs the epochs' median: %s" % bad)


def attach(cols, steps, argv):
    p = Submit(argv, cols)
    st = p.finish(90)
    n = len(p.rows_seen)
    table_checks(p, st, cols, "PARTITION", max(n, 2), steps,
                 int(os.environ["DISPLAY_EPOCHS"]), "attach")


def main():
    mode = sys.argv[1]
    if mode == "train":
        train(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
    elif mode == "submit":
        submit(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:])
    elif mode == "attach":
        attach(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])


if __name__ == "__main__":
    main()

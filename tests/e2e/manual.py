#!/usr/bin/env python3
"""Runs the examples of the user's manual and compares what they print.

A fenced block opened with ```console in doc/manual/*.md is an example: lines starting with
"$ " are commands (a trailing backslash continues one), the lines after a command up to the next
one are what it prints (stdout and stderr, as on a terminal). A line holding only "..." stands
for any number of lines. An HTML comment <!-- manual: COMMAND --> runs COMMAND unseen (set-up
the reader need not see); its output is not checked but it must succeed.

The blocks of one file run in order in one bash process (so `echo $?` and shell variables work),
in a scratch directory, as whoever runs this script: the suite runs it as the admin-group user.
Paths under $CAIRN_DIR are shown under /var/lib/cairn, the default.
Values that differ from run to run (times, fingerprints, sizes, pids) are compared as
placeholders, and table borders and padding are compared loosely, since a column's width follows
its widest value.

Usage: manual.py [--update] FILE.md... ; exit status 1 when an example prints something else.
--update writes what each example printed into the page in place of what it says (not for an
example with "..."), for a person to read over before it is committed.
"""

import os
import re
import subprocess
import sys
import tempfile

VOLATILE = [
    (re.compile(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}(:\d{2})? UTC"), "<time>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "<date>"),
    (re.compile(r"[A-Z][a-z]{2} \d{1,2}, \d{4} at \d{1,2}:\d{2}[ap]m \(UTC\)"), "<time>"),
    # YAML quotes an id that starts with a digit and not one that starts with a letter.
    (re.compile(r"\"?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\"?"), "<uuid>"),
    (re.compile(r"\"?\b[0-9a-f]{12,64}\b\"?"), "<hex>"),
    (re.compile(r"\b\d+(\.\d+)?\s?(B|KiB|MiB|GiB|TiB|kB|KB|MB|GB|bytes)\b"), "<size>"),
    (re.compile(r"\b20\d{6}(-?\d{4,6})?\b"), "<date>"),
    (re.compile(r"\b(pid|PID|Pid|Processes|PROCESSES)(:? +)\d+"), r"\1\2<n>"),
    (re.compile(r"\b\d+(\.\d+)? ?(ms|µs|s)\b"), "<duration>"),
    (re.compile(r"/dev/pts/\d+"), "/dev/pts/<n>"),
    (re.compile(r"\b\d+ CPUs\b"), "<n> CPUs"),
    (re.compile(r"^(\s*size): \d+$"), r"\1: <n>"),
    (re.compile(r"/tmp/[A-Za-z0-9._/-]+"), "<tmp>"),
    (re.compile(r"-{2,}"), "--"),
    (re.compile(r" {2,}"), " "),
]


def normalize(line):
    line = line.rstrip()
    for rx, repl in VOLATILE:
        line = rx.sub(repl, line)
    return line


class Example:
    def __init__(self, path, lineno, command, expected, hidden=False):
        self.path, self.lineno = path, lineno
        self.command, self.expected, self.hidden = command, expected, hidden
        self.first = None  # index in the page of the first expected line


def parse(path):
    """The examples and hidden set-up commands of one file, in order."""
    examples = []
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*<!-- manual: (.*) -->\s*$", line)
        if m:
            examples.append(Example(path, i + 1, m.group(1), [], hidden=True))
            i += 1
            continue
        if line.strip() != "```console":
            i += 1
            continue
        i += 1
        current = None
        while i < len(lines) and lines[i].strip() != "```":
            text = lines[i]
            if text.startswith("$ "):
                cmd, start = text[2:], i + 1
                while cmd.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    cmd = cmd + "\n" + lines[i]
                current = Example(path, start, cmd, [])
                current.first = i + 1
                examples.append(current)
            elif current is not None:
                if current.first is None:
                    current.first = i
                current.expected.append(text)
            i += 1
        i += 1
    return examples


def matches(expected, actual):
    """Whether the actual lines match the expected ones, "..." matching any run of lines."""
    exp = [normalize(x) for x in expected]
    act = [normalize(x) for x in actual]

    memo = {}

    def go(e, a):
        key = (e, a)
        if key in memo:
            return memo[key]
        if e == len(exp):
            r = a == len(act)
        elif exp[e] == "...":
            r = any(go(e + 1, k) for k in range(a, len(act) + 1))
        else:
            r = a < len(act) and exp[e] == act[a] and go(e + 1, a + 1)
        memo[key] = r
        return r

    return go(0, 0)


def run_file(path, workdir, update=False):
    examples = parse(path)
    if not examples:
        return 0, 0
    marker = "@@cairn-manual-example@@"
    script = ["set +e", "cd %s" % sh_quote(workdir)]
    for n, ex in enumerate(examples):
        script.append("echo %s%d" % (marker, n))
        # The previous command's status is put back for `echo $?`.
        script.append("(exit ${__rc:-0}); { %s\n} 2>&1 </dev/null; __rc=$?; echo; echo %s-rc $__rc"
                      % (ex.command, marker))
    proc = subprocess.run(["bash", "--norc", "--noprofile"], input="\n".join(script) + "\n",
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", timeout=600)
    outputs, rcs = {}, {}
    current = None
    for line in proc.stdout.rstrip("\n").split("\n"):
        if line.startswith(marker + "-rc "):
            rcs[current] = int(line.split()[-1])
            continue
        if line.startswith(marker):
            current = int(line[len(marker):])
            outputs[current] = []
            continue
        if current is not None:
            outputs[current].append(line)
    failed = 0
    updates = []
    # The pages show the default state directory; the suite's daemon has its own.
    cairn_dir = os.environ.get("CAIRN_DIR", "/var/lib/cairn").rstrip("/")
    for n, ex in enumerate(examples):
        got = [x.replace(cairn_dir, "/var/lib/cairn") for x in outputs.get(n, [])]
        # The blank line echoed before the status marker.
        if got and got[-1] == "":
            got = got[:-1]
        where = "%s:%d" % (os.path.basename(ex.path), ex.lineno)
        if ex.hidden:
            if rcs.get(n, 1) != 0:
                failed += 1
                print("not ok - %s set-up `%s` failed (%s)" % (where, ex.command, rcs.get(n)))
                print("\n".join("#   " + x for x in got))
            continue
        # --update takes every example's output from this one run, so that the values in a
        # page (fingerprints, times) agree with each other.
        if update and "..." not in ex.expected and ex.expected != got:
            updates.append((ex.first, len(ex.expected), got))
        if matches(ex.expected, got):
            print("ok - %s $ %s" % (where, ex.command.split("\n")[0]))
        else:
            failed += 1
            print("not ok - %s $ %s" % (where, ex.command.split("\n")[0]))
            print("# the manual says:")
            print("\n".join("#   " + x for x in ex.expected))
            print("# it printed:")
            print("\n".join("#   " + x for x in got))
    if updates:
        lines = open(path, encoding="utf-8").read().split("\n")
        for first, count, got in sorted(updates, reverse=True):
            lines[first:first + count] = got
        open(path, "w", encoding="utf-8").write("\n".join(lines))
    return len([e for e in examples if not e.hidden]), failed


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def main():
    total = failed = 0
    args = sys.argv[1:]
    update = bool(args) and args[0] == "--update"
    for path in args[1:] if update else args:
        with tempfile.TemporaryDirectory(prefix="cairn-manual.") as workdir:
            n, f = run_file(path, workdir, update)
        total += n
        failed += f
    print("# %d examples, %d failed" % (total, failed))
    return 1 if failed or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

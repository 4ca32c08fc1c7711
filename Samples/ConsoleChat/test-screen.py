#!/usr/bin/env python3
#
# test-screen.py — crosschat's full-screen mode driven in tmux (CTest: crosschat-screen).
#
# Usage: test-screen.py <path to crosschat>
#
# Two users, alice and bob, each in a tmux session of a private tmux server (fixed size,
# TERM from tmux, LANG=C.UTF-8), find each other by LAN discovery on loopback (a private
# discovery port) and chat: Tab completion of a command, a name and a peer-ID prefix,
# window switching (Alt+2, Ctrl+N, /win), receipts on the sender's lines, a message arriving
# while the other is typing (the typed text stays), input history, a resize, scrollback from
# the history store after a restart (PageUp beyond the top loads older pages); then every way
# out (/quit, Ctrl+C, SIGTERM, SIGSEGV) must give the terminal back: the same stty modes as
# before, the normal screen with what it showed before, the exit status.
#
# Every wait polls capture-pane (every 50 ms, with a deadline); there are no fixed sleeps.
#
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

CROSSCHAT = os.path.abspath(sys.argv[1])
SOCKET = f"crosschat-screen-{os.getpid()}"
WORK = tempfile.mkdtemp(prefix="crosschat-screen.")
LAN_PORT = 20000 + os.getpid() % 20000
DEADLINE = 15.0


def tmux(*args, check=True):
    result = subprocess.run(["tmux", "-L", SOCKET, "-f", "/dev/null", *args],
                            capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"tmux {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def capture(session):
    return tmux("capture-pane", "-p", "-t", session)


def lines(session):
    return capture(session).split("\n")


def keys(session, *keys_):
    tmux("send-keys", "-t", session, *keys_)


def type_text(session, text):
    tmux("send-keys", "-t", session, "-l", text)


class Failure(Exception):
    pass


def wait_for(session, predicate, what, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while True:
        screen = capture(session)
        if predicate(screen):
            return screen
        if time.monotonic() > end:
            raise Failure(f"{session}: timed out waiting for {what}; the screen:\n{screen}")
        time.sleep(0.05)


def wait_text(session, text, deadline=DEADLINE):
    return wait_for(session, lambda screen: text in screen, repr(text), deadline)


def input_line(session):
    return lines(session)[-1] if capture(session) else ""


def visible_lines(screen):
    rows = screen.split("\n")
    while rows and rows[-1] == "":
        rows.pop()
    return rows


def wait_input(session, expected, deadline=DEADLINE):
    """The input line (the last row) is exactly expected (right-trimmed)."""
    return wait_for(session, lambda screen: (visible_lines(screen) or [""])[-1].rstrip() == expected,
                    f"input line {expected!r}", deadline)


def start(session, name, width=100, height=30, extra=""):
    data = os.path.join(WORK, name)
    wrapper = os.path.join(WORK, f"run-{name}.sh")
    with open(wrapper, "w") as f:
        f.write(f"""#!/bin/bash
ulimit -c 0
stty -g > {shlex.quote(os.path.join(WORK, name + '.stty-before'))}
echo "BEFORE-{name}"
LANG=C.UTF-8 LC_ALL= {shlex.quote(CROSSCHAT)} --name {name} --data-dir {shlex.quote(data)} \\
    --lan-port {LAN_PORT} --lan-interval 2 --no-port-mapping {extra}
rc=$?
stty -g > {shlex.quote(os.path.join(WORK, name + '.stty-after'))}
echo "EXITED-{name} rc=$rc"
exec sleep 600
""")
    os.chmod(wrapper, 0o755)
    tmux("new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), wrapper)
    tmux("set-option", "-t", session, "status", "off")
    screen = wait_text(session, "Your peer ID:")
    match = re.search(r"Your peer ID: (\S+)", screen)
    return match.group(1)


def program_pid(session):
    """The crosschat process in a session: the child of the pane's shell."""
    shell = tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip()
    found = subprocess.run(["pgrep", "-P", shell, "-x", "crosschat"], capture_output=True, text=True).stdout.split()
    if len(found) != 1:
        raise Failure(f"cannot find crosschat in {session}: {found}")
    return int(found[0])


def check_restored(session, name, rc):
    screen = wait_text(session, f"EXITED-{name} rc=")
    match = re.search(rf"EXITED-{name} rc=(\d+)", screen)
    if int(match.group(1)) != rc:
        raise Failure(f"{name} exited with {match.group(1)}, expected {rc}:\n{screen}")
    before = open(os.path.join(WORK, name + ".stty-before")).read()
    after = open(os.path.join(WORK, name + ".stty-after")).read()
    if before != after:
        raise Failure(f"{name}: terminal modes not restored:\nbefore {before}after  {after}")
    # The normal screen is back: what the shell showed before, none of the full screen.
    if f"BEFORE-{name}" not in screen:
        raise Failure(f"{name}: the screen from before the program is not back:\n{screen}")
    if "[status]" in screen or "status window" in screen:
        raise Failure(f"{name}: the full screen is still shown after the exit:\n{screen}")
    return screen


def step(text):
    print(f"-- {text}", flush=True)


def main():
    started = time.monotonic()
    alice_id = start("alice", "alice")
    bob_id = start("bob", "bob")

    step("LAN discovery: each sees the other in the status window")
    wait_text("alice", "* bob (")
    wait_text("bob", "* alice (")

    step("Tab completes a command, then a name")
    type_text("alice", "/ms")
    keys("alice", "Tab")
    wait_input("alice", "[status] /msg")
    type_text("alice", "bo")
    keys("alice", "Tab")
    wait_input("alice", "[status] /msg bob")
    type_text("alice", "hello bob")
    keys("alice", "Enter")
    wait_input("alice", "[status]")
    wait_text("alice", "-> bob: hello bob")

    step("window switching: Alt+2 shows the conversation, its title and the receipt")
    keys("alice", "M-2")
    screen = wait_for("alice", lambda s: "<alice> hello bob \u2713" in s, "the delivered mark on alice's line")
    title = screen.split("\n")[0]
    if "[2] bob (" + bob_id[:7] + ")" not in title:
        raise Failure(f"alice's title bar does not name the conversation: {title!r}")
    wait_for("alice", lambda s: "connected (direct)" in s.split("\n")[0], "the connection in the title")
    wait_input("alice", "[bob]")

    step("bob: unread count and activity in the status bar, Ctrl+N to the conversation")
    wait_for("bob", lambda s: "2:alice(1)" in s and "[Act: 2]" in s, "the unread count")
    keys("bob", "C-n")
    wait_text("bob", "<alice> hello bob")
    wait_input("bob", "[alice]")
    wait_text("bob", "is not a contact: reply or /accept " + alice_id[:7])   # a stranger's first message

    step("/alias renames the window (an alias wins over the peer's own name)")
    type_text("bob", "/alias alice Ally")
    keys("bob", "Enter")
    wait_for("bob", lambda s: "2:Ally" in s and "[2] Ally (" in s.split("\n")[0], "the alias in the status bar and title")
    type_text("bob", "/alias alice")
    keys("bob", "Enter")
    wait_for("bob", lambda s: "2:alice" in s, "the name back after removing the alias")

    step("a message arriving while bob types leaves his input intact")
    type_text("bob", "partial answer")
    wait_input("bob", "[alice] partial answer")
    type_text("alice", "second message")
    keys("alice", "Enter")
    wait_text("bob", "<alice> second message")
    wait_input("bob", "[alice] partial answer")
    type_text("bob", ", done")
    keys("bob", "Enter")
    wait_for("alice", lambda s: "<bob> partial answer, done" in s, "bob's answer")
    wait_for("bob", lambda s: "<bob> partial answer, done \u2713" in s, "the receipt on bob's line")

    step("word editing: Ctrl+W deletes a word, Ctrl+Left moves by words, Ctrl+A/E")
    type_text("bob", "one two three")
    keys("bob", "C-w")
    wait_input("bob", "[alice] one two")
    keys("bob", "C-Left")
    type_text("bob", "X")
    wait_input("bob", "[alice] one Xtwo")
    keys("bob", "C-a")
    type_text("bob", "A")
    keys("bob", "C-e")
    type_text("bob", "E")
    wait_input("bob", "[alice] Aone Xtwo E")   # Ctrl+W keeps the space before the word
    keys("bob", "C-u")
    wait_input("bob", "[alice]")

    step("input history: Up recalls the lines typed before")
    keys("alice", "Up")
    wait_input("alice", "[bob] second message")
    keys("alice", "Up")
    wait_input("alice", "[bob] /msg bob hello bob")
    keys("alice", "Down", "Down")
    wait_input("alice", "[bob]")

    step("Tab completes a peer-ID prefix to the whole ID")
    type_text("alice", "/msg " + bob_id[:4].lower())
    keys("alice", "Tab")
    wait_input("alice", "[bob] /msg " + bob_id)
    keys("alice", "C-u")

    step("/win 1 and back; /me and //text")
    type_text("alice", "/win 1")
    keys("alice", "Enter")
    wait_for("alice", lambda s: "status window" in s.split("\n")[0], "the status window")
    type_text("alice", "/win 2")
    keys("alice", "Enter")
    wait_input("alice", "[bob]")
    type_text("alice", "/me waves")
    keys("alice", "Enter")
    wait_text("bob", "* alice waves")
    type_text("alice", "//etc/hosts is a file")
    keys("alice", "Enter")
    wait_text("bob", "<alice> /etc/hosts is a file")

    step("/nick: bob is told at once, his window and status bar follow; and back")
    type_text("alice", "/nick alicia")
    keys("alice", "Enter")
    wait_text("alice", "You are now alicia")
    wait_for("bob", lambda s: "alice (" + alice_id[:7] + ") is now known as alicia" in s and "2:alicia" in s,
             "the rename on bob's screen")
    type_text("alice", "renamed")
    keys("alice", "Enter")
    wait_text("alice", "<alicia> renamed")
    wait_text("bob", "<alicia> renamed")
    type_text("alice", "/nick alice")
    keys("alice", "Enter")
    wait_for("bob", lambda s: "alicia (" + alice_id[:7] + ") is now known as alice" in s and "2:alice" in s,
             "the name back on bob's screen")

    step("a peer's name and text cannot break the layout (mallory, in line mode on a pipe)")
    mallory = subprocess.Popen(
        [CROSSCHAT, "--name", "mal\u202eory", "--data-dir", os.path.join(WORK, "mallory"),
         "--lan-port", str(LAN_PORT), "--lan-interval", "2", "--no-port-mapping"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mallory.stdin.write(("/msg " + bob_id + " tab\there \u202eevil\u202c \x1b[2J\x1b[31mred\x07 end\n").encode())
    mallory.stdin.flush()
    wait_for("bob", lambda s: "3:mal\ufffdory(1)" in s, "mallory's window")
    keys("bob", "M-3")
    screen = wait_text("bob", "red")
    row = next(r for r in screen.split("\n") if "tab here" in r)
    if "\u202e" in row or "\x1b" in row or "\ufffdevil\ufffd \ufffd[2J\ufffd[31mred\ufffd end" not in row:
        raise Failure(f"mallory's text was not neutralised: {row!r}")
    if "\u202e" in screen.split("\n")[0]:
        raise Failure(f"mallory's name reached the title unsanitised: {screen.split(chr(10))[0]!r}")
    mallory.stdin.close()
    mallory.wait(timeout=10)
    keys("bob", "M-2")
    wait_input("bob", "[alice]")

    step("resize: 100x30 to 60x20, the layout follows")
    tmux("resize-window", "-t", "alice", "-x", "60", "-y", "20")
    def redrawn(screen):
        # The whole layout, not a capture taken while the redraw is still under way.
        rows = visible_lines(screen)
        return (2 <= len(rows) <= 20 and "[2] bob" in rows[0]
                and rows[-2].startswith("[") and "2:bob" in rows[-2])
    screen = wait_for("alice", redrawn, "the title, and the status bar above the input line, after the resize")
    rows = visible_lines(screen)
    if any(len(r) > 60 for r in rows):
        raise Failure(f"a row is wider than the new width:\n{screen}")
    wait_input("alice", "[bob]")

    step("bob sends 120 numbered messages (for alice's scrollback after her restart)")
    for n in range(1, 121):
        type_text("bob", f"n{n:03d}")
        keys("bob", "Enter")
    wait_text("alice", "<bob> n120")

    step("/quit: bye, and the terminal as it was")
    type_text("alice", "/quit")
    keys("alice", "Enter")
    screen = check_restored("alice", "alice", 0)
    if "Bye." not in screen:
        raise Failure(f"no Bye. after the full screen closed:\n{screen}")

    step("Ctrl+C quits in order too")
    wait_text("bob", "alice (" + alice_id[:7] + ") left")
    keys("bob", "C-c")
    check_restored("bob", "bob", 0)

    step("scrollback survives a restart: alice again, the conversation loads from the history store")
    start("alice2", "alice")
    type_text("alice2", "/msg " + bob_id)
    keys("alice2", "Enter")
    wait_text("alice2", "<bob> n120")
    screen = capture("alice2")
    if "n001" in screen:
        raise Failure(f"the whole history was loaded at once, not the newest page:\n{screen}")
    step("PageUp beyond the top loads older pages until the first message")
    end = time.monotonic() + DEADLINE
    while "hello bob" not in capture("alice2"):
        if time.monotonic() > end:
            raise Failure(f"PageUp never reached the start of the conversation:\n{capture('alice2')}")
        keys("alice2", "PPage")
        time.sleep(0.05)
    screen = capture("alice2")
    if "<alice> hello bob \u2713" not in screen:
        raise Failure(f"alice's first line is not shown with its delivered state:\n{screen}")
    keys("alice2", "C-c")
    check_restored("alice2", "alice", 0)

    step("SIGTERM: an orderly quit, exit status 128+15")
    start("carol", "carol")
    pid = program_pid("carol")
    os.kill(pid, 15)
    check_restored("carol", "carol", 128 + 15)

    step("a crash (SIGSEGV): the terminal is restored before the core dump")
    start("dave", "dave")
    pid = program_pid("dave")
    os.kill(pid, 11)
    check_restored("dave", "dave", 128 + 11)

    print(f"PASS ({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    if shutil.which("tmux") is None:
        print("SKIPPED: tmux is not installed (scripts/deps.sh installs it)")
        sys.exit(0)
    try:
        main()
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        sys.exit(1)
    finally:
        tmux("kill-server", check=False)
        shutil.rmtree(WORK, ignore_errors=True)

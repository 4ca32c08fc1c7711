#!/usr/bin/env python3
#
# test-screen-groups.py — group windows of crosschat's full-screen mode, driven in tmux
# (CTest: crosschat-screen-groups).
#
# Usage: test-screen-groups.py <path to crosschat>
#
# Three users in tmux sessions of a private tmux server find each other by LAN discovery on
# loopback (test-screen.py's helpers: private discovery port, no fixed sleeps). alice creates a
# group: its window opens and becomes current; she invites bob and carol, whose invitations
# show in their status windows; they accept; each gets a window per group ("#crew" in the
# status bar); a plain line typed in the group window goes to the group and reaches the others'
# group windows with the sender's name; a message to the group while bob types in another
# window leaves his input intact and counts as unread on the group window; /group members and
# /groups answer in place; /quit restores the terminal.
#
import importlib.util
import os
import shutil
import sys
import time

_spec = importlib.util.spec_from_file_location(
    "screen", os.path.join(os.path.dirname(os.path.abspath(__file__)), "test-screen.py"))
screen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(screen)   # its CROSSCHAT comes from sys.argv[1], like ours

Failure = screen.Failure
keys, type_text, wait_text, wait_for, wait_input, step = (screen.keys, screen.type_text, screen.wait_text,
                                                          screen.wait_for, screen.wait_input, screen.step)


def command(session, line):
    type_text(session, line)
    keys(session, "Enter")


def main():
    started = time.monotonic()
    screen.start("alice", "alice", width=110)
    bob_id = screen.start("bob", "bob", width=110)
    carol_id = screen.start("carol", "carol", width=110)

    step("LAN discovery: alice sees bob and carol")
    wait_text("alice", "* bob (")
    wait_text("alice", "* carol (")

    step("/group create: the group's window opens and is current")
    command("alice", "/group create crew")
    wait_for("alice", lambda s: "#crew" in s.split("\n")[0], "the group window's title")
    wait_text("alice", "group created")
    wait_input("alice", "[#crew]")

    step("invitations: a request in bob's and carol's status windows")
    command("alice", "/group invite crew " + bob_id[:10])
    command("alice", "/group invite crew " + carol_id[:10])
    wait_text("bob", "invites you: /group accept")
    wait_text("carol", "invites you: /group accept")

    step("they accept: each gets a #crew window")
    command("bob", "/group accept crew")
    command("carol", "/group accept crew")
    wait_text("bob", "you joined")
    wait_text("carol", "you joined")
    wait_for("alice", lambda s: s.count("joined (added by you)") >= 2, "both joins in alice's group window")

    step("a plain line in the group window goes to the group")
    type_text("alice", "hello crew")
    keys("alice", "Enter")
    wait_text("alice", "<alice> hello crew")
    wait_text("bob", "<alice> hello crew")
    wait_text("carol", "<alice> hello crew")
    wait_for("bob", lambda s: "[2] #crew (group " in s.split("\n")[0], "the group window's title")

    step("a group message while bob types elsewhere: his input stays, the group window counts it")
    keys("bob", "M-1")
    wait_input("bob", "[status]")
    type_text("bob", "half typed")
    command("carol", "hi from carol")
    wait_for("bob", lambda s: "#crew(1)" in s, "the unread count of the group window")
    wait_input("bob", "[status] half typed")
    keys("bob", "C-u")
    keys("bob", "C-n")
    wait_text("bob", "<carol> hi from carol")
    wait_input("bob", "[#crew]")

    step("/group members and /groups answer in place")
    command("bob", "/group members")
    wait_text("bob", "3 members:")
    command("bob", "/groups")
    wait_for("bob", lambda s: "#crew" in s and "member" in s and "<- current" in s, "the group list")

    step("after a restart the group window opens with the group's stored history")
    command("carol", "/quit")
    screen.check_restored("carol", "carol", 0)
    screen.start("carol2", "carol", width=110)
    command("carol2", "/msg #crew")
    wait_for("carol2", lambda s: "<alice> hello crew" in s and "hi from carol" in s, "the stored group messages")

    step("/quit restores the terminal")
    for session, name in (("alice", "alice"), ("bob", "bob"), ("carol2", "carol")):
        command(session, "/quit")
        screen.check_restored(session, name, 0)
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
        screen.tmux("kill-server", check=False)
        shutil.rmtree(screen.WORK, ignore_errors=True)

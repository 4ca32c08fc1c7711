#!/usr/bin/env python3
"""package_test.py — installs the crosschat and crosschat-relay .deb packages and chats through them.

Usage: package_test.py CROSSCHAT_DEB RELAY_DEB [--keep]

Run by scripts/test.sh (step "packages") on a throwaway CI machine, as root. It changes this
machine: it installs both packages with dpkg -i (creating the system user crosschat-relay),
edits /etc/crosschat/crosschat.properties, and purges both packages at the end. It refuses to
touch crosschat packages that were installed by anything else (exit 77, "skipped"), and cleans up
after an earlier run that was killed (a marker file tells them apart).

Checks:
  1. dpkg -i installs both; dpkg reports them installed; Depends (from dpkg-shlibdeps) name the
     Debian 12 runtime libraries; the configuration files are registered conffiles; the postinst
     created the system user crosschat-relay; `systemd-analyze verify` accepts the unit (when
     systemd-analyze exists); the installed alert rules pass `promtool check rules` (when
     promtool exists);
  2. the installed crosschat-relay reads /etc/crosschat/crosschat-relay.properties by default
     (an unknown setting put there is refused, naming it), and crosschat-relay --help names it;
  3. the relay is started exactly as its unit says: the ExecStart line parsed from the installed
     unit file, as the unit's User and Group (setpriv), in a fresh network namespace (no systemd
     needed, nothing of this machine's network touched); it logs "listening on" and /health
     answers "ok"; it runs as that user;
  4. two installed crosschat instances chat through it: alice gets the relay from the system
     configuration /etc/crosschat/crosschat.properties (no --relay), bob from --relay; direct
     connections between them are blocked (nftables), so a message from each side arrives once,
     over the relay ("path":"relay"), and is delivered;
  5. both instances quit with status 0 and SIGTERM stops the relay with status 0;
  6. dpkg --purge removes both packages, their files and /etc/crosschat.
Exit 0 = passed, 1 = failed, 77 = skipped.
"""
import argparse
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "netlab"))
import netlab  # noqa: E402

PACKAGES = ("crosschat", "crosschat-relay")
MARKER = "/var/lib/crosschat-package-test"
SYSTEM_CONFIG = "/etc/crosschat/crosschat.properties"
RELAY_CONFIG = "/etc/crosschat/crosschat-relay.properties"
UNIT_PATHS = ("/lib/systemd/system/crosschat-relay.service", "/usr/lib/systemd/system/crosschat-relay.service")
RELAY_URL = "http://127.0.0.1:5000"
TIMEOUT = 20.0


class Failed(Exception):
    pass


def run(argv, check=True, timeout=120, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise Failed(f"{' '.join(argv)} exited with {result.returncode}: {(result.stderr or result.stdout).strip()[-800:]}")
    return result


def check(condition, message):
    print(("  ok    " if condition else "  FAIL  ") + message, flush=True)
    if not condition:
        raise Failed(message)


def installed(package):
    result = run(["dpkg-query", "-W", "-f=${Status}", package], check=False)
    return result.returncode == 0 and result.stdout.strip() == "install ok installed"


def present(package):
    """True if dpkg knows the package in any state (installed, config-files, half-installed)."""
    result = run(["dpkg-query", "-W", "-f=${Status}", package], check=False)
    return result.returncode == 0 and not result.stdout.strip().endswith("not-installed")


def purge():
    run(["dpkg", "--purge"] + list(PACKAGES), check=False)


def parse_unit(path):
    """Returns {key: value} of the [Service] section (the last value of a repeated key)."""
    service, section = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]" and "=" in line:
                key, value = line.split("=", 1)
                service[key.strip()] = value.strip()
    return service


def exec_argv(exec_start):
    """The command of an ExecStart= value: systemd's prefixes (-, @, +, !, :) removed, split
    like a shell would (the unit uses no specifiers or variables, which this refuses)."""
    value = exec_start.lstrip("-@+!:")
    if "%" in value or "$" in value:
        raise Failed(f"ExecStart uses specifiers or variables this test cannot expand: {exec_start}")
    return shlex.split(value)


class PackageTest:
    def __init__(self, debs, work):
        self.debs = debs
        self.work = work
        self.lab = None
        self.saved_relay_config = None

    def install(self):
        print("step 1: dpkg -i", flush=True)
        started = time.monotonic()
        run(["dpkg", "-i"] + self.debs)
        print(f"        dpkg -i took {time.monotonic() - started:.1f} s", flush=True)
        for package in PACKAGES:
            check(installed(package), f"dpkg reports {package} installed")
        depends = run(["dpkg-query", "-W", "-f=${Depends}", "crosschat-relay"]).stdout
        print(f"        crosschat-relay Depends: {depends}", flush=True)
        # TLS is OpenSSL's own on the event loops (TlsChannel), so libssl3, not Poco's NetSSL.
        for library in ("libc6", "libstdc++6", "libssl3", "libpoconet80", "libpocoutil80", "libpocojson80"):
            check(library in depends, f"crosschat-relay Depends on {library}")
        check("adduser" in depends, "crosschat-relay Depends on adduser (its postinst uses it)")
        depends = run(["dpkg-query", "-W", "-f=${Depends}", "crosschat"]).stdout
        print(f"        crosschat Depends: {depends}", flush=True)
        for library in ("libpoconet80", "libminiupnpc17", "libnatpmp1", "libssl3"):
            check(library in depends, f"crosschat Depends on {library}")
        for package, conffile in (("crosschat-relay", RELAY_CONFIG), ("crosschat", SYSTEM_CONFIG)):
            conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", package]).stdout
            check(conffile in conffiles, f"{conffile} is a conffile of {package}")
        for path in ("/usr/bin/crosschat", "/usr/bin/crosschat-relay"):
            check(os.access(path, os.X_OK), f"{path} is installed and executable")
        for path in (RELAY_CONFIG, SYSTEM_CONFIG, "/usr/share/crosschat-relay/prometheus/crosschat-relay.rules.yml",
                     "/usr/share/doc/crosschat-relay/examples/nginx-crosschat-relay.conf",
                     "/usr/share/doc/crosschat-relay/examples/haproxy-crosschat-relay.cfg",
                     "/usr/share/doc/crosschat/copyright", "/usr/share/doc/crosschat-relay/copyright"):
            check(os.path.isfile(path), f"{path} is installed")
        missing = run(["sh", "-c", "ldd /usr/bin/crosschat /usr/bin/crosschat-relay | grep 'not found' || true"]).stdout
        check(not missing.strip(), f"every shared library of the programs resolves {missing.strip()}")
        try:
            user = pwd.getpwnam("crosschat-relay")
        except KeyError:
            user = None
        check(user is not None and user.pw_uid < 1000, f"the postinst created the system user crosschat-relay ({user})")
        self.unit = next((p for p in UNIT_PATHS if os.path.isfile(p)), None)
        check(self.unit is not None, f"the unit is installed ({self.unit})")
        if shutil.which("systemd-analyze"):
            result = run(["systemd-analyze", "verify", self.unit], check=False)
            check(result.returncode == 0, f"systemd-analyze verify accepts the unit {result.stderr.strip()[-300:]}")
            result = run(["systemd-analyze", "security", "--offline=yes", self.unit], check=False)
            overall = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\S+)", result.stdout)
            if overall:
                print(f"        systemd-analyze security: exposure {overall.group(1)} ({overall.group(2)})", flush=True)
        else:
            print("        (systemd-analyze not installed: unit not verified)", flush=True)
        if shutil.which("promtool"):
            run(["promtool", "check", "rules", "/usr/share/crosschat-relay/prometheus/crosschat-relay.rules.yml"])
            check(True, "promtool accepts the installed alert rules")

    def default_config(self):
        print("step 2: the installed relay reads /etc/crosschat/crosschat-relay.properties by default", flush=True)
        help_text = run(["/usr/bin/crosschat-relay", "--help"]).stdout
        check(RELAY_CONFIG in help_text, f"crosschat-relay --help names {RELAY_CONFIG}")
        with open(RELAY_CONFIG, encoding="utf-8") as f:
            self.saved_relay_config = f.read()
        try:
            with open(RELAY_CONFIG, "a", encoding="utf-8") as f:
                f.write("\nrelay.packageTestProbe = 1\n")
            result = run(["/usr/bin/crosschat-relay"], check=False, timeout=20)
        finally:
            with open(RELAY_CONFIG, "w", encoding="utf-8") as f:
                f.write(self.saved_relay_config)
        check(result.returncode == 78 and "unknown setting relay.packageTestProbe" in result.stderr,
              f"the relay without --config-file refused a setting put into {RELAY_CONFIG} "
              f"(exit {result.returncode}: {result.stderr.strip()[-200:]})")

    def start_relay(self):
        print("step 3: the relay, started with the unit's ExecStart as its User, in a network namespace", flush=True)
        service = parse_unit(self.unit)
        argv = exec_argv(service["ExecStart"])
        user, group = service.get("User"), service.get("Group")
        check(user == "crosschat-relay" and group == "crosschat-relay", f"the unit runs as crosschat-relay ({user}:{group})")
        check(argv[0] == "/usr/bin/crosschat-relay", f"ExecStart runs the installed binary ({argv})")
        self.lab = netlab.Lab()
        self.ns = self.lab.add_namespace("pkg")
        self.relay = self.ns.spawn(["setpriv", f"--reuid={user}", f"--regid={group}", "--init-groups", "--"] + argv,
                                   name="relay", log_path=os.path.join(self.work, "relay.log"))
        listening = self.relay.wait_for(lambda p: any("listening on http://0.0.0.0:5000/" in l.text for l in p.stderr),
                                        TIMEOUT)
        check(listening, f"the relay logs 'listening on http://0.0.0.0:5000/' ({self.relay.stderr_tail(4)})")
        status, _headers, body = self.ns.http_get(RELAY_URL + "/health")
        check(status == 200 and '"status":"ok"' in body, f"/health answers ok ({status} {body[:120]})")
        with open(f"/proc/{self.relay.pid}/status", encoding="utf-8") as f:
            uid_line = next(line for line in f if line.startswith("Uid:"))
        uid = int(uid_line.split()[1])
        check(uid == pwd.getpwnam(user).pw_uid, f"the relay process runs as {user} (uid {uid})")

    def chat(self):
        print("step 4: alice (relay from the system configuration) and bob (--relay) chat through the relay", flush=True)
        with open(SYSTEM_CONFIG, "a", encoding="utf-8") as f:
            f.write(f"\ncrosschat.relay = {RELAY_URL}\n")
        # Only the relay's port works: connections to the chat ports are dropped, so the chat
        # cannot go direct and must use a relay tunnel.
        self.ns.nft("table inet pkgtest {\n  chain output {\n    type filter hook output priority 0; policy accept;\n"
                    "    tcp dport { 4101, 4102 } drop\n  }\n}\n")
        env = dict(os.environ, HOME=self.work, XDG_CONFIG_HOME=os.path.join(self.work, "config"))
        common = ["--json", "--no-lan", "--no-port-mapping", "--no-hole-punching"]
        self.alice = self.ns.spawn(["/usr/bin/crosschat", "--name", "alice", "--data-dir", os.path.join(self.work, "alice"),
                                    "--port", "4101"] + common, name="alice", env=env,
                                   log_path=os.path.join(self.work, "alice.log"))
        self.bob = self.ns.spawn(["/usr/bin/crosschat", "--name", "bob", "--data-dir", os.path.join(self.work, "bob"),
                                  "--port", "4102", "--relay", RELAY_URL] + common, name="bob", env=env,
                                 log_path=os.path.join(self.work, "bob.log"))
        ids = {}
        for inst in (self.alice, self.bob):
            ready = inst.wait_event("ready", TIMEOUT)
            check(ready is not None, f"{inst.name} is ready ({inst.stderr_tail(3)})")
            ids[inst.name] = ready.data["id"]
            online = inst.wait_event("relay", TIMEOUT, state="online")
            check(online is not None and online.data.get("url", "").rstrip("/") == RELAY_URL,
                  f"{inst.name} is online at {RELAY_URL} ({[e.data for e in inst.find('relay')][-2:]})")
        self.exchange(self.alice, self.bob, ids["bob"], "hello bob, through the packaged relay")
        self.exchange(self.bob, self.alice, ids["alice"], "hello alice, this is bob")

    def exchange(self, sender, receiver, receiver_id, text):
        sender.send(f"/msg {receiver_id} {text}")
        sent = sender.wait_event("sent", TIMEOUT)
        check(sent is not None, f"{sender.name} sent its message")
        message = receiver.wait_event("message", 45.0, id=sent.data["id"])
        check(message is not None and message.data.get("text") == text,
              f"{receiver.name} received {text!r} ({message.data if message else [e.data for e in sender.find('error')][-3:]})")
        check(message.data.get("path") == "relay", f"it came over the relay (path {message.data.get('path')!r})")
        delivered = sender.wait_event("delivered", TIMEOUT, id=sent.data["id"])
        check(delivered is not None, f"{sender.name} got 'delivered'")
        time.sleep(0.5)
        check(len(receiver.find("message", id=sent.data["id"])) == 1, "it arrived exactly once")

    def stop(self):
        print("step 5: /quit and SIGTERM", flush=True)
        for inst in (self.alice, self.bob):
            inst.send("/quit")
        codes = [inst.wait(10) for inst in (self.alice, self.bob)]
        check(codes == [0, 0], f"both crosschat instances exit with 0 ({codes})")
        self.relay.kill(signal.SIGTERM)
        code = self.relay.wait(20)
        check(code == 0, f"the relay exits with 0 on SIGTERM ({code})")

    def purge(self):
        print("step 6: dpkg --purge", flush=True)
        run(["dpkg", "--purge"] + list(PACKAGES))
        for package in PACKAGES:
            check(not present(package), f"{package} is purged")
        for path in ("/usr/bin/crosschat", "/usr/bin/crosschat-relay", "/etc/crosschat", self.unit):
            check(not os.path.exists(path), f"{path} is gone")

    def close(self):
        if self.lab:
            self.lab.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("debs", nargs=2, help="crosschat_*.deb and crosschat-relay_*.deb")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("SKIPPED: the package test installs packages with dpkg -i: it needs root (CI runs it as root)")
        return 77
    ok, reason = netlab.namespaces_available()
    if not ok:
        print(f"SKIPPED: the package test runs the relay in a network namespace ({reason})")
        return 77
    for tool in ("dpkg", "setpriv", "nft"):
        if not shutil.which(tool):
            print(f"SKIPPED: the package test needs {tool}")
            return 77
    debs = [os.path.abspath(d) for d in args.debs]
    for deb in debs:
        if not os.path.isfile(deb):
            print(f"FAILED: {deb} does not exist")
            return 1
    if any(present(p) for p in PACKAGES):
        if os.path.exists(MARKER):
            print("package test: purging the packages an earlier, interrupted run left installed")
            purge()
        else:
            print("SKIPPED: crosschat packages are installed on this machine and were not installed by this "
                  "test; it does not replace them (dpkg --purge crosschat crosschat-relay to allow it)")
            return 77
    work = tempfile.mkdtemp(prefix="crosschat-packagetest.")
    os.chmod(work, 0o755)
    test = PackageTest(debs, work)
    started = time.monotonic()
    error = None
    with open(MARKER, "w", encoding="utf-8") as f:
        f.write("crosschat packages installed by testsuite/packaging/package_test.py\n")
    try:
        test.install()
        test.default_config()
        test.start_relay()
        test.chat()
        test.stop()
        test.close()
        test.purge()
    except (Failed, netlab.LabError, subprocess.TimeoutExpired) as exc:
        error = str(exc)
        for name, path in (("relay", "relay.log"), ("alice", "alice.log"), ("bob", "bob.log")):
            full = os.path.join(work, path)
            if os.path.exists(full):
                print(f"--- {name} stderr (last lines) ---")
                with open(full, encoding="utf-8", errors="replace") as f:
                    for line in f.readlines()[-12:]:
                        print("    " + line.rstrip())
    finally:
        test.close()
        if any(present(p) for p in PACKAGES):
            purge()
        if not any(present(p) for p in PACKAGES) and os.path.exists(MARKER):
            os.unlink(MARKER)
        if args.keep:
            print(f"work directory: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"package test: {'PASSED' if error is None else 'FAILED — ' + error} ({time.monotonic() - started:.1f} s)")
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(main())

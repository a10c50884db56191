"""The scale section of resources.py (issue 23): a mailbox of a million messages over 20 folders, its first
scan beside a bare FETCH, and what every later pass and command costs at that size."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from measuring import command, config_text, env_for_children, goal, median_seconds, ran, scan_argv
from tracking import NOW, arrive, bare_fetch_detail, build_maildir, state_bytes, weekly_upkeep

from imapservers import DovecotServer

SERVICE_PASS = """
import sys, time
from datetime import datetime
from imapclient import IMAPClient
from mail_followup.config import load_config
from mail_followup.service.scan import scan
opening = [0.0]
def select_folder(self, *args, _select=IMAPClient.select_folder, **kwargs):
    start = time.perf_counter()
    try:
        return _select(self, *args, **kwargs)
    finally:
        opening[0] += time.perf_counter() - start
IMAPClient.select_folder = select_folder
result = scan(load_config(sys.argv[1]), datetime.fromisoformat(sys.argv[2]), reports=False)
assert result.ok and result.accounts[0].unchanged == (sys.argv[3:] != ["changed"]), result.as_json()["errors"]
print(f"opening folders: {opening[0]:.3f}", file=sys.stderr)
"""  # what the service's pass process does (daemon._child_pass), without the service around it; it also
# says how long it waited for the server to open folders (SELECT, EXAMINE), which no client can shorten


def opening_seconds(done: subprocess.CompletedProcess[str]) -> float:
    """The time a SERVICE_PASS waited for SELECT and EXAMINE, from its last line."""
    return float(done.stderr.rsplit("opening folders: ", 1)[1].split()[0])


def scale(server: DovecotServer, tmp: Path, messages: int) -> None:
    """Issue 23's mailbox, 7/10 sent and 3/10 answers over 20 folders; its first scan beside a bare FETCH."""
    sent = messages * 7 // 10
    answers, folders = messages - sent, 20
    user = server.new_account().username
    start = time.perf_counter()
    build_maildir(server, user, sent, answers, folders=folders)
    print(f"scale: {sent:,} sent and {answers:,} answers over {folders} folders, written as Maildir files in "
          f"{time.perf_counter() - start:.0f} s")
    indexed = bare_fetch_detail(server, user)
    print(f"scale: Dovecot indexing them (the first bare fetch, not compared): {indexed.wall:.0f} s for "
          f"{indexed.messages:,}")
    bare = bare_fetch_detail(server, user)
    config = tmp / "scale.yaml"
    config.write_text(config_text(tmp / "scale-state", [("bench", server.host, server.port, user)]))
    env = env_for_children(BENCH_PASSWORD=server.password)
    first, rss, _ = ran(scan_argv(config), env)
    print(f"scale: first scan {first:.1f} s against a bare FETCH of the same header fields over the same "
          f"{len(bare.folders)} folders {bare.wall:.1f} s: ratio {first / bare.wall:.2f} "
          f"{goal(first / bare.wall, 1.2, '', at_most=True)}; peak RSS {rss:.0f} MB {goal(rss, 300, 'MB')}")
    scale_after(server, user, tmp, config, messages)


def scale_after(server: DovecotServer, user: str, tmp: Path, config: Path, messages: int) -> None:
    """What every later pass and command costs at that size: the passes a day is made of, and the state."""
    env = env_for_children(BENCH_PASSWORD=server.password)
    again, rss_again, done = ran(scan_argv(config), env)
    print(f"scale: a pass with nothing new, `scan --json` printing its {len(json.loads(done.stdout)['threads']):,} "
          f"thread reports: {again:.2f} s, start-up included (no goal of its own: the quiet-pass goal is for the "
          f"service's pass, next); peak RSS {rss_again:.0f} MB")
    quiet, rss_quiet, done = ran([sys.executable, "-c", SERVICE_PASS, str(config), NOW], env)
    print(f"scale: a quiet pass (nothing new) as the service runs it (counts, no reports): {quiet:.2f} s, "
          f"start-up included {goal(quiet, 1)}; peak RSS {rss_quiet:.0f} MB; of it {opening_seconds(done):.2f} s "
          "waiting for Dovecot to open folders")
    arrive(server, user, 10)
    changed, rss_changed, done = ran([sys.executable, "-c", SERVICE_PASS, str(config), NOW, "changed"], env)
    opening = opening_seconds(done)
    print(f"scale: a pass after 10 new messages (5 answers, 5 sent), as the service runs it: {changed:.2f} s, "
          f"start-up included {goal(changed, 0.5 if messages <= 100_000 else 2)}; peak RSS {rss_changed:.0f} MB; "
          f"of it {opening:.2f} s waiting for Dovecot to open the 20 folders, {changed - opening:.2f} s the rest")
    state = tmp / "scale-state"
    size, done = state_bytes(state), weekly_upkeep(state)
    packed = state_bytes(state) / messages
    print(f"scale: state database {size / 1e6:.0f} MB, {size / messages:.0f} bytes per message; after the weekly "
          f"upkeep ({', '.join(done)}) {packed:.0f} bytes per message {goal(packed, 500, 'bytes')}")
    asked, rss_asked, _ = ran([*command(), "explain", "<sent0@example.org>", "--config", str(config),
                               "--now", NOW], env)
    print(f"scale: `explain` of one thread (offline, what `stop` and `snooze` also do first): {asked:.2f} s, "
          f"start-up included {goal(asked, 1)}; peak RSS {rss_asked:.0f} MB")
    status = median_seconds([*command(), "status", "--config", str(config), "--now", NOW], env, 5)
    with closing(sqlite3.connect(f"file:{state / 'state.sqlite3'}?mode=ro", uri=True)) as db:
        tracked = db.execute("SELECT COUNT(*) FROM threads").fetchone()[0]
    print(f"scale: `status` on this state, {tracked:,} tracked threads: {status:.2f} s (median of 5), start-up "
          f"included (no goal of its own: the goal is set for 10,000 tracked threads, next)")
    status_of_10k(tmp, config, env)


def status_of_10k(tmp: Path, config: Path, env: dict[str, str]) -> None:
    """`status` where the goal is set: the same million-message state, its reports cut to 10,000 tracked
    threads (a copy; status reads the reports, the messages only through their counts)."""
    copy = tmp / "status-10k-state"
    shutil.copytree(tmp / "scale-state", copy, dirs_exist_ok=True)
    with closing(sqlite3.connect(copy / "state.sqlite3")) as db:
        db.execute("DELETE FROM threads WHERE rowid NOT IN (SELECT rowid FROM threads ORDER BY rowid LIMIT 10000)")
        db.commit()
        tracked = db.execute("SELECT COUNT(*) FROM threads").fetchone()[0]
    cut = tmp / "status-10k.yaml"
    cut.write_text(config.read_text().replace(str(tmp / "scale-state"), str(copy)))
    status = median_seconds([*command(), "status", "--config", str(cut), "--now", NOW], env, 5)
    print(f"scale: `status` on {tracked:,} tracked threads (the same state, its reports cut): {status:.2f} s "
          f"(median of 5), start-up included {goal(status, 0.3)}")



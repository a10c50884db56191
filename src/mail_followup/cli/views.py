"""Every tracked thread as the local state has it: ``status`` as a table or JSON, ``calendar`` as iCalendar.

Both read the state alone and never need the network. ``status`` is the
command people run most, so it avoids what it can: the config's note spares
it validating the config (pydantic), and the store loads only after that.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from mail_followup.cli.invocation import EXIT_OK, config_of
from mail_followup.paths import default_config_path


def cmd_status(args: argparse.Namespace) -> int:
    from mail_followup.config.note import recall

    # A config validated before, unchanged since, is not validated again: that alone took 0.3 s.
    note = recall(args.config or default_config_path())
    if note is None:
        config = config_of(args)
        state_dir, names = config.state_dir, {a.name for a in config.accounts}
    else:
        state_dir, names = note.state_dir, set(note.accounts)
    from mail_followup.service.report import TABLE_FIELDS, report_text_at, table, write_json_document
    from mail_followup.state.store import Store

    with Store(state_dir) as store:
        if args.json:
            texts = store.all_report_texts(names)  # handed on as stored
        else:  # the table's columns alone
            threads = [t for t in store.report_fields(TABLE_FIELDS) if t["account"] in names]
            for t in threads:
                t["to"] = json.loads(str(t["to"])) if t["to"] else []
        passes = store.passes()
        paused = {a: p for a, p in store.paused().items() if a in names}
    now = args.now or datetime.now().astimezone()
    if args.json:
        texts = [report_text_at(text, now) for text in texts]  # a snooze over since the last pass is over
        accounts = {a: {"last_pass": p[0], "ok": p[1], "error": p[2]} for a, p in passes.items() if a in names}
        for name, (why, since) in paused.items():
            accounts.setdefault(name, {}).update({"paused": True, "paused_since": since, "paused_because": why})
        write_json_document(sys.stdout, {"now": now.isoformat(timespec="seconds"), "threads": [],
                                         "accounts": accounts}, texts)
        sys.stdout.write("\n")
        return EXIT_OK
    sys.stdout.write(table(threads, now, verbose=args.verbose > 0))
    for name in sorted(names):
        if name in paused:
            why, since = paused[name]
            print(f"account {name}: paused since {since}: {why}\n"
                  f"  fix the sign-in (a password: mail-followup auth set {name}; an OAuth2 token: sign in again "
                  f"with your token helper), then reload or restart the service")
        elif name not in passes:
            print(f"account {name}: never scanned")
        elif not passes[name][1]:
            print(f"account {name}: the last pass ({passes[name][0]}) failed: {passes[name][2]}")
    return EXIT_OK


def cmd_calendar(args: argparse.Namespace) -> int:
    config = config_of(args)

    from mail_followup.core.ics import followups_calendar
    from mail_followup.state.store import Store

    names = {a.name for a in config.accounts}
    with Store(config.state_dir) as store:
        threads = [t for t in store.reports() if t["account"] in names]
    sys.stdout.flush()
    sys.stdout.buffer.write(followups_calendar(threads, datetime.now(UTC)))
    sys.stdout.buffer.flush()
    return EXIT_OK

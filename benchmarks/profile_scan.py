"""Where a first scan and a no-change pass spend their time, at a size you choose. Run by hand:

    pip install pyinstrument
    python benchmarks/profile_scan.py 300000      # messages; writes profile-first.txt, -nochange.txt, -changed.txt

The mailbox is the tracking benchmark's (two thirds sent, one third answers), written as Maildir files
and indexed by Dovecot once before the profiled passes. Issue 10's scale figures come from
benchmarks/resources.py; this script is for finding their causes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests"), str(ROOT / "src")]

from imapservers import DovecotServer  # noqa: E402
from measuring import config_text  # noqa: E402
from tracking import NOW, arrive, bare_fetch, build_maildir  # noqa: E402


def main() -> int:
    from pyinstrument import Profiler

    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with DovecotServer() as server, tempfile.TemporaryDirectory(prefix="mf-profile-") as tmp_name:
        tmp = Path(tmp_name)
        user = server.new_account().username
        build_maildir(server, user, messages * 2 // 3, messages - messages * 2 // 3)
        bare_fetch(server, user)  # Dovecot indexes the new files, outside the profile
        config_path = tmp / "config.yaml"
        config_path.write_text(config_text(tmp / "state", [("bench", server.host, server.port, user)]))
        os.environ["BENCH_PASSWORD"] = server.password
        from mail_followup.config import load_config
        from mail_followup.service.scan import scan

        config = load_config(config_path)
        for label in ("first", "nochange", "changed"):
            if label == "changed":  # 10 new messages, as benchmarks/resources.py delivers them
                arrive(server, user, 10)
            profiler = Profiler(interval=0.005)
            profiler.start()
            start = time.perf_counter()
            scan(config, datetime.fromisoformat(NOW))
            elapsed = time.perf_counter() - start
            profiler.stop()
            Path(f"profile-{label}.txt").write_text(profiler.output_text(unicode=False))
            print(f"{label}: {elapsed:.1f} s under the profiler; profile-{label}.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())

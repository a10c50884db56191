"""What every command shares: the exit codes it ends with, and the config its ``--config`` names.

The command modules and ``main`` (which maps errors to the same codes) both
need them, so they live below all of them and none imports another for it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mail_followup.paths import default_config_path

if TYPE_CHECKING:
    from mail_followup.config import Config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def config_of(args: argparse.Namespace) -> Config:
    """The config the command line names; loaded on demand, as validating it imports pydantic."""
    from mail_followup.config import load_config

    return load_config(args.config or default_config_path())

"""Run the scheduler: launch scheduled jobs until SIGTERM or SIGINT."""

import functools
import logging
import os
import signal
import sys

from django.core.management.base import BaseCommand, CommandError

from batchrun.job_launching import METHODS, launch_runs
from batchrun.scheduler import Scheduler

logger = logging.getLogger("batchrun.scheduler")

_LEVELS = {0: logging.WARNING, 1: logging.INFO}


class Command(BaseCommand):
    help = (
        "Launch the scheduled jobs when they are due, until stopped with "
        "SIGTERM or SIGINT. Several schedulers may run against one database, "
        "on one host or on several."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once",
            action="store_true",
            help="Do one pass (launch what is due now) and exit.",
        )
        parser.add_argument(
            "--max-ticks",
            type=_positive_int,
            metavar="N",
            help="Exit after N passes; for tests and debugging.",
        )
        parser.add_argument(
            "--launch-method",
            choices=METHODS,
            help="How executors are started: fork (the default; milliseconds) "
            "or spawn (a new Python per run; half a second of CPU).",
        )

    def handle(self, *args, **options):
        configure_logging(options["verbosity"])
        launch = functools.partial(launch_runs, method=options["launch_method"])
        scheduler = Scheduler(launch=launch)
        install_signal_handlers(scheduler)
        max_ticks = 1 if options["once"] else options["max_ticks"]
        try:
            scheduler.run_forever(max_ticks=max_ticks)
        finally:
            signal.set_wakeup_fd(-1)
        if scheduler.failures:
            msg = "The last pass of the scheduler failed; see the log above."
            raise CommandError(msg)


def _positive_int(value: str) -> int:
    import argparse

    if not value.isdigit() or int(value) < 1:
        msg = f"{value!r} is not a positive whole number."
        raise argparse.ArgumentTypeError(msg)
    return int(value)


def configure_logging(verbosity: int) -> None:
    """Set the batchrun logger's level from --verbosity; add a handler if none."""
    package_logger = logging.getLogger("batchrun")
    package_logger.setLevel(_LEVELS.get(verbosity, logging.DEBUG))
    if not package_logger.hasHandlers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        package_logger.addHandler(handler)


def install_signal_handlers(scheduler: Scheduler) -> None:
    """Stop after the current pass on SIGTERM or SIGINT; exit at once on a second."""

    def handle(signum, frame):
        name = signal.Signals(signum).name
        if scheduler.stopping:
            logger.warning("Second signal, exiting at once signal=%s", name)
            os._exit(1)
        logger.info("Stopping after the current pass signal=%s", name)
        scheduler.stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    signal.set_wakeup_fd(scheduler.wakeup_fd, warn_on_full_buffer=False)

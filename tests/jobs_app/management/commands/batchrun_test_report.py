"""A management command run as a job: report how it was started, as JSON."""

import json
import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Print the arguments, settings module and batchrun variables as JSON."

    def add_arguments(self, parser):
        parser.add_argument("words", nargs="*")

    def handle(self, *args, words: list[str], **options) -> None:
        report = {
            "words": words,
            "settings_module": settings.SETTINGS_MODULE,
            "executable": sys.executable,
            "run_id": os.environ.get("BATCHRUN_RUN_ID"),
            "job": os.environ.get("BATCHRUN_JOB"),
        }
        self.stdout.write(json.dumps(report))

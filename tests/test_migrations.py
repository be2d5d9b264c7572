"""The migrations match the models."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_have_no_changes_without_a_migration():
    out = io.StringIO()

    # Exits with status 1 (SystemExit) when a migration is missing.
    call_command("makemigrations", "batchrun", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()

"""Every URL of batchrun.urls refuses whoever may not read run output."""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse

from batchrun import urls
from tests.api_factories import add_output, make_job, make_run, make_user

pytestmark = pytest.mark.django_db

# Sample values for the URL parameters the app uses; a new one fails below.
SAMPLE_ARGUMENTS = {"run_id": "1"}


def app_urls() -> list[str]:
    """Return a URL for every pattern of batchrun.urls, with sample args."""
    found = []

    def walk(patterns) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
                continue
            assert isinstance(pattern, URLPattern)
            assert pattern.name, f"{pattern} needs a name."
            names = set(pattern.pattern.converters)
            missing = names - set(SAMPLE_ARGUMENTS)
            assert not missing, f"Add sample values for {missing}."
            kwargs = {name: SAMPLE_ARGUMENTS[name] for name in names}
            found.append(reverse(f"batchrun:{pattern.name}", kwargs=kwargs))

    walk(urls.urlpatterns)
    return found


ALL_URLS = app_urls()


def test_the_walk_finds_every_endpoint():
    assert ALL_URLS == [
        "/batchrun/runlogs.json",
        "/batchrun/runlogs/1.json",
        "/batchrun/runlogs/1.txt",
        "/batchrun/health.json",
    ]


@pytest.fixture
def run_one():
    """Run 1 exists, so that a refusal cannot be a 404 in disguise."""
    run = make_run(make_job(rent_id="hunter2"), pk=1)
    add_output(run, "stdout", b"password: hunter2\n")
    return run


@pytest.mark.parametrize("url", ALL_URLS)
def test_anonymous_users_get_a_json_401_not_a_login_redirect(client, run_one, url):
    response = client.get(url)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "Authentication required: log in as a user with the "
        "batchrun.view_jobrun permission."
    }
    assert b"hunter2" not in response.content


@pytest.mark.parametrize("url", ALL_URLS)
def test_users_without_the_permission_get_a_json_403(client, run_one, url):
    client.force_login(make_user("staff", permitted=False))

    response = client.get(url)

    assert response.status_code == 403
    assert response.json() == {
        "error": "Permission denied: this needs the batchrun.view_jobrun permission."
    }


@pytest.mark.parametrize("url", ALL_URLS)
def test_inactive_users_are_refused(client, run_one, url):
    user = make_user()
    client.force_login(user)
    user.is_active = False
    user.save()

    assert client.get(url).status_code in (401, 403)


@pytest.mark.parametrize("url", ALL_URLS)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_other_methods_get_a_json_405_even_with_csrf_checks(run_one, url, method):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user())

    response = getattr(client, method)(url)

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json() == {
        "error": f"Method {method.upper()} is not allowed; use GET or HEAD."
    }


@pytest.mark.parametrize("url", ALL_URLS[:3])
def test_permitted_users_can_read_and_nothing_is_cached(client, run_one, url):
    client.force_login(make_user())

    response = client.get(url)
    head = client.head(url)

    assert response.status_code == 200
    assert head.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_superusers_need_no_explicit_permission(client, run_one):
    client.force_login(make_user("root", permitted=False, is_superuser=True))

    assert client.get("/batchrun/runlogs/1.json").status_code == 200

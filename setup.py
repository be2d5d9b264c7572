from pathlib import Path

from setuptools import find_namespace_packages, setup

README = (Path(__file__).parent / "README.rst").read_text(encoding="utf-8")

setup(
    name="batchrun",
    version="0.1.0.dev0",
    description="Schedule and run batch jobs from the Django admin.",
    long_description=README,
    long_description_content_type="text/x-rst",
    license="MIT",
    # Namespace packages too: the template and static folders are data
    # packages, which include_package_data fills from MANIFEST.in.
    packages=find_namespace_packages(include=["batchrun", "batchrun.*"]),
    include_package_data=True,
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=[
        "Django>=5.2",
        "python-daemon>=3.0",
        # Platforms without a system tz database (Windows, slim containers).
        'tzdata; sys_platform == "win32"',
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-django>=4.9",
            "freezegun>=1.5",
            "hypothesis>=6.100",
            "ruff>=0.8",
            # The README is checked as the long description PyPI renders.
            "docutils>=0.20",
            "psycopg[binary]>=3.1.8",
            # The browser tests drive Debian's Chromium; no browser download.
            "playwright>=1.45",
            "tzdata",
        ],
        # mysqlclient compiles against libmariadb-dev; kept apart so that
        # the SQLite and PostgreSQL runs need no C headers.
        "mysql": ["mysqlclient>=2.2"],
        "bench": ["croniter>=2.0"],
    },
    classifiers=[
        "Framework :: Django",
        "Framework :: Django :: 5.2",
        "Framework :: Django :: 6.0",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    ],
)

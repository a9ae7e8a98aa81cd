"""Settings for the test suite: the normal settings with HUIFANG_ENV=test."""

import os

os.environ["HUIFANG_ENV"] = "test"
os.environ.setdefault(
    "HUIFANG_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test")
)

from config.settings import *  # noqa: E402,F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 (whitenoise warns when it is missing)

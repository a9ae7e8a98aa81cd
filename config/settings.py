"""Huifang settings, read from the environment.

HUIFANG_ENV chooses the profile: ``local`` (default: SQLite, generated local secrets),
``test`` (set by the test suite) or ``production`` (refuses default or generated secrets).
See README.md "Configuration" for every variable.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
HUIFANG_ENV = os.environ.get("HUIFANG_ENV", "local").strip().lower()
PRODUCTION = HUIFANG_ENV == "production"
TESTING = HUIFANG_ENV == "test"

VAR_DIR = Path(os.environ.get("HUIFANG_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _local_secret(filename: str) -> str:
    """A secret generated once per checkout and kept in var/ (never in production)."""
    path = VAR_DIR / filename
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY", "")
if PRODUCTION:
    from django.core.exceptions import ImproperlyConfigured

    if len(SECRET_KEY) < 40 or SECRET_KEY.startswith("django-insecure") or "change-me" in SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set to a long random value in production.")
elif not SECRET_KEY:
    SECRET_KEY = _local_secret("secret_key")

DEBUG = env_bool("HUIFANG_DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]") + (["testserver"] if TESTING else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks_db",
    "ninja",  # serves the bundled Swagger UI for /api/v1/docs (offline, CSP-friendly)
    "huifang.core",
    "huifang.core.audit",
    "huifang.core.calendar",
    "huifang.org",
    "huifang.records",
    "huifang.rules",
    "huifang.callbacks",
    "huifang.reports",
    "huifang.selfservice",
    "huifang.notify",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "huifang.core.middleware.HuifangLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "huifang" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "huifang.core.context_processors.huifang",
            ],
            "builtins": ["huifang.core.templatetags.pii"],
        },
    }
]

# Database: DATABASE_URL chooses; SQLite (WAL, immediate transactions) is the embedded default.
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'huifang.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Persistent connections (one per thread): opening a SQLite connection re-reads the whole
    # schema on its first statement, which cost more than a customer's e-callback page.
    DATABASES["default"]["CONN_MAX_AGE"] = 600
    DATABASES["default"]["OPTIONS"] = {
        # Writers take the lock at BEGIN, so two writers never deadlock on lock upgrade.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=30000;"
            "PRAGMA cache_size=-65536;PRAGMA temp_store=MEMORY"
        ),
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("HUIFANG_TEST_SQLITE") or None}
DATABASE_VENDOR = "sqlite" if "sqlite" in DATABASES["default"]["ENGINE"] else "postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "org.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Paths that do not use the staff session login (they authenticate otherwise).
HUIFANG_PUBLIC_PREFIXES = ("/api/", "/h5/", "/static/", "/healthz")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Language and time: Simplified Chinese first, English second; stored in UTC, shown in Shanghai.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "huifang" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("HUIFANG_STATIC_ROOT", VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "huifang" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_ROOT = Path(os.environ.get("HUIFANG_MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
# A 1,000-item feed batch of full policies with long Chinese addresses can reach ~5 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
# Largest import file the import page and API accept.
HUIFANG_IMPORT_MAX_BYTES = int(os.environ.get("HUIFANG_IMPORT_MAX_BYTES", 200 * 1024 * 1024))

# Security defaults.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 8 * 3600
SESSION_COOKIE_SECURE = PRODUCTION or env_bool("HUIFANG_SECURE_COOKIES")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "media-src": [CSP.SELF, "blob:"],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# Background jobs: Django's tasks API with the database backend (django-tasks-db).
TASKS = {
    "default": {
        "BACKEND": "django.tasks.backends.immediate.ImmediateBackend"
        if env_bool("HUIFANG_TASKS_IMMEDIATE", False)
        else "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "imports", "sweeps"],
    }
}

# PII encryption (huifang.core.crypto): "aes" (AES-256-GCM) or "sm" (国密 SM4-GCM + SM3).
HUIFANG_CRYPTO = os.environ.get("HUIFANG_CRYPTO", "aes").strip().lower()
HUIFANG_KEYS = os.environ.get("HUIFANG_KEYS", "")  # "kid:base64key,kid2:base64key"
HUIFANG_ACTIVE_KEY = os.environ.get("HUIFANG_ACTIVE_KEY", "")
HUIFANG_INDEX_KEY = os.environ.get("HUIFANG_INDEX_KEY", "")  # base64, for the blind index
HUIFANG_KEY_FILE = Path(os.environ.get("HUIFANG_KEY_FILE", VAR_DIR / "keys.json"))

HUIFANG_INSURER_NAME = os.environ.get("HUIFANG_INSURER_NAME", "汇安人寿保险股份有限公司")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("HUIFANG_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Customer e-callback (huifang.selfservice) and SMS (huifang.notify); see huifang/notify/backends.py.
HUIFANG_SMS_BACKEND = os.environ.get("HUIFANG_SMS_BACKEND", "huifang.notify.backends.FileBackend")
HUIFANG_SMS_OUTBOX = Path(os.environ.get("HUIFANG_SMS_OUTBOX", VAR_DIR / "outbox" / "sms.jsonl"))
HUIFANG_SMS_HTTP_URL = os.environ.get("HUIFANG_SMS_HTTP_URL", "")
HUIFANG_SMS_HTTP_TOKEN = os.environ.get("HUIFANG_SMS_HTTP_TOKEN", "")
HUIFANG_SMS_HTTP_TIMEOUT = float(os.environ.get("HUIFANG_SMS_HTTP_TIMEOUT", "5"))
# Where the customer opens the e-callback link (the public address of /h5/).
HUIFANG_H5_BASE_URL = os.environ.get("HUIFANG_H5_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
HUIFANG_H5_LINK_DAYS = int(os.environ.get("HUIFANG_H5_LINK_DAYS", "15"))  # and never past the EC-05 point

"""Local development and `make run`: embedded SQLite and a broker that needs no server."""

from .base import *  # noqa: F403
from .base import BASE_DIR, env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="local-dev-only-not-secret")
USER_HASH_KEY = env("USER_HASH_KEY", default="local-dev-user-hash-key")
DEMO_PASSWORD = env("DEMO_PASSWORD", default="demo" if DEBUG else "")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=True)
(BASE_DIR / "var").mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

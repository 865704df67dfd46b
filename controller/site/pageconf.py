"""``[web]`` of ``site.toml``: the site page that ``lanectl site run`` serves.

Every problem is a ``ConfigError`` naming the file and the key. As the lane's
console, the page binds to loopback unless it has a certificate (``tls_cert`` and
``tls_key``) or ``insecure_http = true`` says otherwise on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.config import is_loopback
from controller.site.siteconf import _Table

__all__ = ["SitePageConfig", "parse_page"]


@dataclass(frozen=True, slots=True)
class SitePageConfig:
    users_file: Path
    host: str = "127.0.0.1"
    port: int = 8790
    """0: a free port."""
    session_minutes: int = 480
    stream_max_s: int = 300
    """Each event stream ends after this long and the page resumes it (re-checking the session)."""
    chart_bucket_s: int = 300
    """The arrivals / capacity chart's bar width."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure_http: bool = False


def parse_page(path: Path, raw: Any) -> SitePageConfig:
    """``[web]`` from the site file at ``path``."""
    t = _Table(path, "web", raw)
    users_raw = t.string("users_file")
    users = Path(users_raw) if Path(users_raw).is_absolute() else path.parent / users_raw
    host = t.string("host", "127.0.0.1")
    port = t.integer("port", 8790, 0, 65535)
    session_minutes = t.integer("session_minutes", 480, 1, 7 * 24 * 60)
    stream_max_s = t.integer("stream_max_s", 300, 1, 86_400)
    bucket = t.integer("chart_bucket_s", 300, 1, 3600)
    insecure = t.raw.pop("insecure_http", False)
    if not isinstance(insecure, bool):
        raise t.error("insecure_http", "must be true or false")
    cert = t.file("tls_cert", required=False)
    key = t.file("tls_key", required=False)
    t.done()
    if (cert is None) != (key is None):
        missing = "tls_key" if cert is not None else "tls_cert"
        raise t.error(missing, "missing (TLS needs both tls_cert and tls_key)")
    if cert is None and not insecure and not is_loopback(host):
        raise t.error(
            "tls_cert",
            f"required when the page binds to {host} (not loopback), unless insecure_http = true",
        )
    return SitePageConfig(
        users_file=users,
        host=host,
        port=port,
        session_minutes=session_minutes,
        stream_max_s=stream_max_s,
        chart_bucket_s=bucket,
        tls_cert=cert,
        tls_key=key,
        insecure_http=insecure,
    )

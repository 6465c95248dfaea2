"""Flask extensions, created unbound and attached in create_app().

Rate limits are counted per client network (`client_network`): the address the request came from
as Werkzeug's ProxyFix leaves it, so behind `PROXY_FIX_HOPS` trusted proxies the one they
forwarded, and without it the socket's peer, whatever X-Forwarded-For a client sends. Their
counters live in `RATELIMIT_STORAGE_URI` (Redis when `REDIS_URL` is set: cases.core.config), so
every worker process sees the same counts.
"""

import ipaddress

from flask import current_app, request
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf import CSRFProtect

# One host commonly holds a whole IPv6 /64: it is one client, not 2**64 of them.
IPV6_CLIENT_PREFIX = 64


def client_network(address: str | None) -> str:
    """The client an address stands for: an IPv4 address, or an IPv6 address's /64 network
    (an IPv4-mapped IPv6 address as its IPv4 address)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(ip)


def request_client() -> str:
    """The current request's client network (the rate limiter's key)."""
    return client_network(request.remote_addr)


csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=request_client, default_limits=[])


def public_limit() -> str:
    """The rate limit of the public pages (the report form, private links)."""
    return current_app.config["RATELIMIT_PUBLIC"]

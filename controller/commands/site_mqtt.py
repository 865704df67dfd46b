"""``lanectl site broker|store|bridge-config``: the site's broker, its store, its bridge.

``broker`` runs Mosquitto in the foreground from a site config (for demos and a
first site); ``store`` runs the site store's collector until stopped;
``bridge-config`` prints (or writes) the bridge section that carries the site to
its region broker.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from controller.config import ConfigError

__all__ = ["register"]


def register(site_sub: Any) -> None:
    p: argparse.ArgumentParser = site_sub.add_parser(
        "broker", help="run the site's Mosquitto broker (ACL, passwords) in the foreground"
    )
    p.add_argument("--config", required=True, metavar="FILE", help="site config (TOML)")
    p.add_argument("--with-bridge", action="store_true", help="include [bridge] in the broker")
    p.set_defaults(func=_broker)
    p = site_sub.add_parser("store", help="collect every lane's events into the site store")
    p.add_argument("--config", required=True, metavar="FILE", help="site config (TOML)")
    p.set_defaults(func=_store)
    p = site_sub.add_parser("bridge-config", help="the Mosquitto bridge section, site -> region")
    p.add_argument("--config", required=True, metavar="FILE", help="site config (TOML)")
    p.add_argument("--out", metavar="FILE", help="write it here instead of stdout")
    p.set_defaults(func=_bridge_config)


def _load(args: argparse.Namespace, command: str) -> Any:
    from controller.site.siteconf import load_site_mqtt

    try:
        return load_site_mqtt(args.config)
    except ConfigError as exc:
        print(f"lanectl site {command}: config error: {exc}", file=sys.stderr)
        return None


def _wait_for_signal() -> None:
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(1.0):
        pass


def _broker(args: argparse.Namespace) -> int:
    from controller.site.bridge import bridge_section
    from controller.site.broker import Broker, BrokerError

    site = _load(args, "broker")
    if site is None:
        return 2
    extra = ""
    if args.with_bridge:
        if site.bridge is None:
            print(f"lanectl site broker: {site.path}: bridge: missing", file=sys.stderr)
            return 2
        extra = bridge_section(site.site, site.bridge)
    broker = Broker(
        site.data_dir, site.users, host=site.host, port=site.port, tls=site.tls, extra_config=extra
    )
    try:
        broker.start()
    except BrokerError as exc:
        print(f"lanectl site broker: {exc}", file=sys.stderr)
        return 1
    print(f"broker listening on {broker.url}", flush=True)
    try:
        _wait_for_signal()
    finally:
        broker.stop()
    return 0


def _store(args: argparse.Namespace) -> int:
    from controller.logs import configure
    from controller.site.collector import Collector
    from controller.site.store import SiteStore

    site = _load(args, "store")
    if site is None:
        return 2
    configure()
    user = site.user(site.store_user)
    store = SiteStore(site.store_path)
    collector = Collector(
        store, site.address(), site=site.site, username=user.name, password=user.password
    )
    collector.start()
    print(f"store collecting from {site.address().describe()} into {site.store_path}", flush=True)
    try:
        _wait_for_signal()
    finally:
        collector.stop()
        store.close()
    return 0


def _bridge_config(args: argparse.Namespace) -> int:
    from controller.site.bridge import bridge_section

    site = _load(args, "bridge-config")
    if site is None:
        return 2
    if site.bridge is None:
        print(f"lanectl site bridge-config: {site.path}: bridge: missing", file=sys.stderr)
        return 2
    text = bridge_section(site.site, site.bridge)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0

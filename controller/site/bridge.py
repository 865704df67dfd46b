"""The Mosquitto bridge section that carries one site's topics to its region broker.

The site broker connects out to the region with a persistent session
(``cleansession false``) and queues QoS 1 messages for the region while the link
is cut (the broker config sets no queue limit), so a cut bridge delays events
but loses none. Lanes' state, events and availability go out; commands for the
site's lanes come in.
"""

from __future__ import annotations

from controller.site.mqtt import parse_url
from controller.site.siteconf import BridgeSettings

__all__ = ["bridge_section"]


def bridge_section(site: str, bridge: BridgeSettings) -> str:
    """The ``connection`` block for the site broker's mosquitto.conf."""
    host, port, tls = parse_url(bridge.url)
    lines = [
        f"# lanectl site {site} -> region broker {bridge.url}",
        f"connection lanectl-{site}-region",
        f"address {host}:{port}",
        f"remote_clientid lanectl-bridge-{site}",
        f"remote_username {bridge.username}",
        f"remote_password {bridge.password}",
        "bridge_protocol_version mqttv311",
        "cleansession false",
        "local_cleansession false",
        "try_private true",
        "notifications false",
        "start_type automatic",
        "restart_timeout 1 5",
        "keepalive_interval 10",
        f"topic lanectl/{site}/+/event out 1",
        f"topic lanectl/{site}/+/state out 1",
        f"topic lanectl/{site}/+/availability out 1",
        f"topic lanectl/{site}/+/cmd/# in 1",
    ]
    if tls:
        if bridge.cafile is not None:
            lines.append(f"bridge_cafile {bridge.cafile}")
        else:
            lines.append("bridge_capath /etc/ssl/certs")
    return "\n".join(lines) + "\n"

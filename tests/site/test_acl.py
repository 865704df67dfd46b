"""The site broker's access rules, checked against a real Mosquitto on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.site.broker import Broker, BrokerError, User, acl_text
from tests.site.helpers import SITE, Listener, Publisher, start_site_broker, wait_until


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = start_site_broker(tmp_path)
    try:
        yield b
    finally:
        b.stop()


def test_anonymous_and_wrong_password_are_refused(broker: Broker) -> None:
    """No anonymous client and no wrong password gets a session."""
    for user, password in (("", ""), ("lane1", "wrong-password")):
        pub = Publisher(broker, user, password)
        with pub:
            wait_until(lambda p=pub: bool(p.outcome), 10, "a CONNACK")
            time.sleep(0.3)
        assert pub.outcome and not pub.outcome[0][0], (user, pub.outcome)
        assert "authori" in pub.outcome[0][1].lower(), pub.outcome


def _attempt(broker: Broker, user: str, topic: str) -> tuple[bool, str]:
    # Mosquitto 2.0 answers a refused publish with PUBACK 0x87 and drops the connection.
    with Publisher(broker, user, f"pw-{user}-0123") as pub:
        return pub.publish(topic, {"by": user})


def test_a_lane_publishes_only_as_itself_and_only_the_supervisor_commands(broker: Broker) -> None:
    """lane1 may write its own event; not lane2's, not a command; alice may command."""
    base = f"lanectl/{SITE}"
    with Listener(broker, "store", "pw-store-0123", f"{base}/#") as seen:
        own = _attempt(broker, "lane1", f"{base}/lane1/event")
        spoof = _attempt(broker, "lane1", f"{base}/lane2/event")
        self_cmd = _attempt(broker, "lane1", f"{base}/lane1/cmd/release")
        outside = _attempt(broker, "lane1", "elsewhere/topic")
        cmd = _attempt(broker, "alice", f"{base}/lane2/cmd/close")
        fake_state = _attempt(broker, "alice", f"{base}/lane2/state")
        time.sleep(0.5)
        assert own[0], own
        for refused in (spoof, self_cmd, outside, fake_state):
            assert not refused[0] and "authori" in refused[1].lower(), refused
        assert cmd[0], cmd
        topics = sorted(m.topic for m in seen.messages)
    assert topics == [f"{base}/lane1/event", f"{base}/lane2/cmd/close"]


def test_acl_names_every_user_and_refuses_bad_names() -> None:
    """Each role gets its own lines; a topic wildcard in a name is an error naming it."""
    text = acl_text([User("lane1", "p", "lane", "s"), User("sup", "p", "supervisor", "s")])
    assert "user lane1\ntopic write lanectl/s/lane1/state" in text
    assert "topic read lanectl/s/lane1/cmd/#" in text
    assert "user sup\ntopic read lanectl/s/#\ntopic write lanectl/s/+/cmd/#" in text
    with pytest.raises(BrokerError, match="lane1/x"):
        acl_text([User("lane1/x", "p", "lane", "s")])
    with pytest.raises(BrokerError, match="role 'root'"):
        acl_text([User("u", "p", "root", "s")])

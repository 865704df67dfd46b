"""Modbus/TCP Security end to end: the controller's TLS client against ``lanectl sim --tls-*``.

Certificates are made by the test with the ``openssl`` CLI: a lane CA that signs
the simulator's server certificate and the controller's client certificate, and
a rogue CA with a client certificate of its own. The sim must refuse (and log)
any client that does not present a certificate from the lane CA.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.config import ConfigError, load_config
from controller.io.modbus import BusError, ModbusIo, TlsEndpoint
from controller.runtime import endpoint_from_config
from tests.hil.harness import Proc, start_proc, stop_proc, wait_for

pytestmark = pytest.mark.hil

EMPTY_SCENARIO = '[scenario]\nname = "empty"\n[traffic]\nschedule_s = [3600]\n'


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def _key_and_csr(d: Path, name: str, cn: str) -> tuple[Path, Path]:
    key, csr = d / f"{name}.key", d / f"{name}.csr"
    _openssl(
        *("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-keyout", str(key), "-out", str(csr), "-subj", f"/CN={cn}"),
    )
    return key, csr


def _ca(d: Path, name: str) -> tuple[Path, Path]:
    key, cert = d / f"{name}.key", d / f"{name}.pem"
    _openssl(
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
        *("-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1"),
        *("-subj", f"/CN={name}"),
    )
    return cert, key


def _signed(d: Path, name: str, ca: tuple[Path, Path], ext: str) -> tuple[Path, Path]:
    key, csr = _key_and_csr(d, name, name)
    cert, extfile = d / f"{name}.pem", d / f"{name}.ext"
    extfile.write_text(ext + "\n", encoding="utf-8")
    _openssl(
        *("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1])),
        *("-CAcreateserial", "-out", str(cert), "-days", "1", "-extfile", str(extfile)),
    )
    return cert, key


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path
    rogue_key: Path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make test certificates")
    d = tmp_path / "pki"
    d.mkdir()
    lane_ca = _ca(d, "lane-ca")
    server = _signed(d, "sim", lane_ca, "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth")
    client = _signed(d, "controller", lane_ca, "extendedKeyUsage=clientAuth")
    rogue_ca = _ca(d, "rogue-ca")
    rogue = _signed(d, "rogue", rogue_ca, "extendedKeyUsage=clientAuth")
    return Pki(lane_ca[0], *server, *client, *rogue)


@pytest.fixture
def tls_sim(tmp_path: Path, pki: Pki) -> Iterator[tuple[Proc, int]]:
    scenario = tmp_path / "empty.toml"
    scenario.write_text(EMPTY_SCENARIO, encoding="utf-8")
    proc, addr = start_proc(
        "sim",
        [
            *("sim", "--scenario", str(scenario), "--port", "0"),
            *("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)),
            *("--tls-ca", str(pki.ca)),
        ],
        tmp_path,
        "listening on",
    )
    try:
        yield proc, int(addr.rsplit(":", 1)[1])
    finally:
        stop_proc(proc)


def _sim_events(proc: Proc, event: str) -> list[dict[str, object]]:
    found = []
    for line in proc.log_path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("event") == event:
            found.append(record)
    return found


def test_client_with_lane_certificate_reads_and_writes(tls_sim: tuple[Proc, int], pki: Pki) -> None:
    """A client presenting a lane-CA certificate reads the inputs and writes the heartbeat."""
    _, port = tls_sim

    async def go() -> None:
        endpoint = TlsEndpoint(
            "127.0.0.1", port, str(pki.ca), str(pki.client_cert), str(pki.client_key)
        )
        io = ModbusIo(endpoint, timeout_s=2.0, connect_timeout_s=5.0)
        await io.connect()
        try:
            await io.write_register(1, 0)  # watchdog off: this test stops heartbeats
            await io.write_register(0, 41)
            bits = await io.read_discrete_inputs(11)
            regs = await io.read_input_registers(3)
        finally:
            io.close()
        assert len(bits) == 11
        assert len(regs) == 3
        assert bits[5]  # barrier_down: the boom starts down in the simulator
        assert io.failures == 0
        assert endpoint.describe() == f"tls://127.0.0.1:{port}"

    asyncio.run(asyncio.wait_for(go(), 30.0))


def _refused(port: int, ctx: ssl.SSLContext) -> str:
    """Open TLS, send one FC2 request, and say how the server ended it."""

    async def go() -> str:
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1"
            )
        except (ssl.SSLError, OSError) as exc:
            return f"handshake: {exc}"
        try:
            writer.write(bytes.fromhex("000100000006010200000008"))
            await writer.drain()
            data = await asyncio.wait_for(reader.read(256), 5.0)
            return "closed" if not data else f"answered {data.hex()}"
        except (ssl.SSLError, OSError) as exc:
            return f"after handshake: {exc}"
        finally:
            writer.close()

    return asyncio.run(asyncio.wait_for(go(), 20.0))


def test_client_without_certificate_is_refused_and_logged(
    tls_sim: tuple[Proc, int], pki: Pki
) -> None:
    """A client that trusts the server but shows no certificate gets no answer; the sim logs it."""
    proc, port = tls_sim
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    outcome = _refused(port, ctx)
    assert not outcome.startswith("answered"), outcome
    wait_for(lambda: len(_sim_events(proc, "sim_tls_refused")) >= 1, 10.0, "sim_tls_refused")
    reason = str(_sim_events(proc, "sim_tls_refused")[0]["reason"])
    assert "CERTIFICATE" in reason.upper(), reason


def test_client_with_rogue_certificate_is_refused_and_logged(
    tls_sim: tuple[Proc, int], pki: Pki
) -> None:
    """A certificate from another CA is refused: the adapter raises BusError, the sim logs it."""
    proc, port = tls_sim

    async def go() -> BusError:
        endpoint = TlsEndpoint(
            "127.0.0.1", port, str(pki.ca), str(pki.rogue_cert), str(pki.rogue_key)
        )
        io = ModbusIo(endpoint, timeout_s=2.0, connect_timeout_s=5.0)
        try:
            with pytest.raises(BusError) as info:
                await io.connect()
                # TLS 1.3: the client finishes its side first; the refusal ends the first request.
                await io.read_discrete_inputs(11)
        finally:
            io.close()
        return info.value

    error = asyncio.run(asyncio.wait_for(go(), 30.0))
    assert "127.0.0.1" in str(error) or "FC2" in str(error)
    wait_for(lambda: len(_sim_events(proc, "sim_tls_refused")) >= 1, 10.0, "sim_tls_refused")
    reason = str(_sim_events(proc, "sim_tls_refused")[0]["reason"]).upper()
    assert "CERTIFICATE" in reason or "UNKNOWN_CA" in reason, reason


def test_client_that_does_not_trust_the_server_refuses_it(
    tls_sim: tuple[Proc, int], pki: Pki
) -> None:
    """The controller verifies the I/O side too: trusting only the rogue CA, it will not connect."""
    _, port = tls_sim
    rogue_ca = pki.rogue_cert.parent / "rogue-ca.pem"

    async def go() -> None:
        endpoint = TlsEndpoint(
            "127.0.0.1", port, str(rogue_ca), str(pki.client_cert), str(pki.client_key)
        )
        io = ModbusIo(endpoint, timeout_s=2.0, connect_timeout_s=5.0)
        try:
            with pytest.raises(BusError, match=f"tls://127.0.0.1:{port}"):
                await io.connect()
        finally:
            io.close()

    asyncio.run(asyncio.wait_for(go(), 30.0))


def test_missing_certificate_file_is_named(tmp_path: Path, pki: Pki) -> None:
    """A key file that does not exist is named in the BusError of connect, before any socket."""
    missing = tmp_path / "nope.key"

    async def go() -> None:
        io = ModbusIo(TlsEndpoint("127.0.0.1", 1, str(pki.ca), str(pki.client_cert), str(missing)))
        with pytest.raises(BusError, match=r"nope\.key"):
            await io.connect()

    asyncio.run(asyncio.wait_for(go(), 10.0))


def _tls_config(tmp_path: Path, pki: Pki, port: int) -> Path:
    config = tmp_path / "lane.toml"
    config.write_text(
        f"""[lane]
name = "tls"
[io]
transport = "tls"
host = "127.0.0.1"
port = {port}
cafile = "{pki.ca}"
certfile = "{pki.client_cert}"
keyfile = "{pki.client_key}"
timeout_ms = 250
missed_scans = 2
[journal]
path = "{tmp_path / "journal.sqlite"}"
[api]
host = "127.0.0.1"
port = 0
""",
        encoding="utf-8",
    )
    return config


def test_config_tls_transport_needs_all_three_files(tmp_path: Path, pki: Pki) -> None:
    """`transport = "tls"` reads cafile/certfile/keyfile; a missing one is a named ConfigError."""
    config = _tls_config(tmp_path, pki, 802)
    loaded = load_config(config)
    endpoint = endpoint_from_config(loaded.io)
    assert isinstance(endpoint, TlsEndpoint)
    assert endpoint.certfile == str(pki.client_cert)
    text = config.read_text(encoding="utf-8")
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace(f'keyfile = "{pki.client_key}"\n', ""), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"io\.keyfile: missing"):
        load_config(broken)
    plain = tmp_path / "plain.toml"
    plain.write_text(text.replace('transport = "tls"', 'transport = "tcp"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"io\.cafile: only transport 'tls'"):
        load_config(plain)


def test_controller_runs_the_lane_over_tls(
    tmp_path: Path, tls_sim: tuple[Proc, int], pki: Pki
) -> None:
    """`lanectl run` with transport "tls" connects with its certificate and opens the lane."""
    _, port = tls_sim
    config = _tls_config(tmp_path, pki, port)
    run, api_url = start_proc("run", ["run", "--config", str(config)], tmp_path, "api listening on")
    try:

        def status() -> dict[str, object]:
            with urllib.request.urlopen(f"{api_url}/status", timeout=2.0) as resp:
                data: dict[str, object] = json.loads(resp.read())
            return data

        def open_and_connected() -> bool:
            s = status()
            core = s["core"]
            bus = s["bus"]
            assert isinstance(core, dict) and isinstance(bus, dict)
            return bool(bus["connected"]) and core["mode"] == "OPEN"

        wait_for(open_and_connected, 20.0, "the controller to connect over TLS and open")
        bus = status()["bus"]
        assert isinstance(bus, dict)
        assert bus["endpoint"] == f"tls://127.0.0.1:{port}"
    finally:
        assert stop_proc(run) == 0


def test_controller_with_rogue_certificate_stays_disconnected(
    tmp_path: Path, tls_sim: tuple[Proc, int], pki: Pki
) -> None:
    """`lanectl run` presenting a certificate from another CA never gets the bus: it keeps
    retrying with its bus reported down, and the sim logs every refusal."""
    proc, port = tls_sim
    config = _tls_config(tmp_path, pki, port)
    text = config.read_text(encoding="utf-8")
    text = text.replace(str(pki.client_cert), str(pki.rogue_cert))
    config.write_text(text.replace(str(pki.client_key), str(pki.rogue_key)), encoding="utf-8")
    run, api_url = start_proc("run", ["run", "--config", str(config)], tmp_path, "api listening on")
    try:
        wait_for(lambda: len(_sim_events(proc, "sim_tls_refused")) >= 2, 20.0, "two refusals")
        with urllib.request.urlopen(f"{api_url}/status", timeout=2.0) as resp:
            status = json.loads(resp.read())
        assert status["bus"]["connected"] is False
        assert status["bus"]["last_error"], status["bus"]
        assert status["scan"]["scans"] == 0  # it never scanned an I/O it could not trust
    finally:
        assert stop_proc(run) == 0

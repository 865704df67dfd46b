"""The camera view every page's stream relays is taken once per interval, not once per page."""

from __future__ import annotations

import numpy as np
import pytest

from controller.console.camera import SharedCameraView
from controller.vision.presence import CameraView
from controller.vision.zones import Zone


class CountingCamera:
    def __init__(self) -> None:
        self.calls = 0
        self.bay = False

    def view(self) -> CameraView:
        self.calls += 1
        zone = Zone("bay", ((0.0, 0.0), (10.0, 0.0), (10.0, 5.0)))
        frame = np.zeros((72, 128), np.uint8)
        return CameraView(frame, self.calls, (zone,), (("bay", self.bay),), frozenset())


def test_twenty_pages_within_the_interval_take_one_view() -> None:
    camera = CountingCamera()
    now = [100.0]
    shared = SharedCameraView(camera, every_s=0.1, clock=lambda: now[0])
    views = [shared() for _ in range(20)]
    assert camera.calls == 1
    assert all(v == views[0] for v in views)
    assert views[0] is not None and views[0]["width"] == 128 and views[0]["height"] == 72
    assert views[0]["zones"][0]["occupied"] is False
    camera.bay = True
    now[0] += 0.05
    assert shared() == views[0] and camera.calls == 1
    now[0] += 0.06
    fresh = shared()
    assert camera.calls == 2 and fresh is not None and fresh["zones"][0]["occupied"] is True


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="every_s"):
        SharedCameraView(CountingCamera(), every_s=0)


class SteadyCamera:
    """A camera whose frame changes only when the test says so."""

    def __init__(self) -> None:
        self.seq = 1

    def view(self) -> CameraView:
        frame = np.full((72, 128), self.seq * 10 % 256, np.uint8)
        return CameraView(frame, self.seq, (), (), frozenset())


def test_pages_share_one_jpeg_per_frame() -> None:
    """Three pages' MJPEG streams each get both frames the camera made, and each frame is
    encoded once, not once per page."""
    import asyncio

    import aiohttp
    from aiohttp import web

    from controller.console.camera import SharedJpeg, mjpeg

    camera = SteadyCamera()
    frames = SharedJpeg(camera)

    async def handler(request: web.Request) -> web.StreamResponse:
        return await mjpeg(request, frames, 1.2)

    async def page(session: aiohttp.ClientSession, url: str) -> int:
        parts = 0
        async with session.get(url) as resp:
            assert resp.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            async for chunk in resp.content.iter_any():
                parts += chunk.count(b"Content-Type: image/jpeg")
        return parts

    async def next_frame() -> None:
        await asyncio.sleep(0.6)
        camera.seq = 2

    async def go() -> list[int]:
        app = web.Application()
        app.router.add_get("/camera.mjpg", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{port}/camera.mjpg"
                pages = asyncio.gather(*(page(session, url) for _ in range(3)))
                _, parts = await asyncio.wait_for(asyncio.gather(next_frame(), pages), 10.0)
                return list(parts)
        finally:
            await runner.cleanup()

    assert asyncio.run(go()) == [2, 2, 2]
    assert frames.encoded == 2

"""Detector behaviour on hand-made scenes: presence, debounce in ms, refresh rules, faults."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from controller.vision.detector import Detector, DetectorSettings, Fault, SettingsError
from controller.vision.zones import Zone
from hw_sim.camera import CameraSpec, Condition, LaneCamera, Vehicle

SPEC = CameraSpec(width=320, height=180)
FRAME_MS = 67


def _camera(condition: Condition = Condition.DAY, seed: int = 1) -> LaneCamera:
    return LaneCamera(SPEC, condition, seed=seed)


def _detector(camera: LaneCamera, **settings: object) -> Detector:
    return Detector(camera.zones(), SPEC.height, SPEC.width, DetectorSettings(**settings))  # type: ignore[arg-type]


def _feed(
    det: Detector, camera: LaneCamera, vehicles: list[Vehicle], t0: int, t1: int
) -> list[dict[str, bool]]:
    out = []
    for t in range(t0, t1, FRAME_MS):
        out.append(dict(det.process(camera.render(vehicles, 0, t), t).occupied))
    return out


CAR_IN_BAY = Vehicle(id=7, front_x_m=-6.0)


def test_empty_lane_is_empty_and_healthy() -> None:
    """Ten seconds of an empty lane report no zone and no fault."""
    cam = _camera()
    det = _detector(cam)
    states = _feed(det, cam, [], 0, 10_000)
    assert not any(any(s.values()) for s in states)
    assert det.process(cam.render([], 0, 10_000), 10_000).faults == frozenset()


def test_car_appearing_without_motion_waits_on_ms() -> None:
    """A body that appears with no motion seen switches the zone on only after on_ms."""
    cam = _camera()
    det = _detector(cam, on_ms=500, motion_on_ms=0, motion_threshold=255)
    _feed(det, cam, [], 0, 2000)
    states = _feed(det, cam, [CAR_IN_BAY], 2010, 3010)
    on_at = [i for i, s in enumerate(states) if s["bay"]]
    assert on_at, "the car was never seen"
    assert on_at[0] * FRAME_MS >= 500
    assert not any(s["barrier"] or s["exit"] for s in states)


def test_moving_car_switches_on_in_the_same_frame() -> None:
    """Presence that arrives with motion is reported at once (motion_on_ms = 0)."""
    cam = _camera()
    det = _detector(cam)
    _feed(det, cam, [], 0, 1000)
    hits = []
    for k, t in enumerate(range(1005, 3005, FRAME_MS)):
        car = Vehicle(id=3, front_x_m=-30.0 + 0.5 * k, speed_mps=7.0)
        seen = det.process(cam.render([car], 0, t), t).zone("approach")
        hits.append((cam.truth([car])["approach"], seen))
    first_truth = next(i for i, (want, _) in enumerate(hits) if want)
    assert hits[first_truth + 1][1], "not seen one frame after it entered"


def test_stopped_car_stays_present_ten_minutes_standalone() -> None:
    """A car standing still is present for 10 minutes of timestamps; it is never absorbed."""
    cam = _camera(Condition.LIGHT_STEPS)
    det = _detector(cam, standalone_refresh_ms=2000)
    _feed(det, cam, [], 0, 3000)
    _feed(det, cam, [CAR_IN_BAY], 3000, 4000)
    for t in range(4000, 604_000, 2000):
        assert det.process(cam.render([CAR_IN_BAY], 0, t), t).zone("bay"), t


def test_controller_note_empty_lets_a_zone_absorb_a_change() -> None:
    """A thing in a zone the controller says is empty is reported, then absorbed after absorb_ms."""
    cam = _camera()
    det = _detector(cam, standalone=False, quiet_ms=1000, refresh_every_ms=200, absorb_ms=5000)
    _feed(det, cam, [], 0, 1000)
    cone = Vehicle(id=9, length_m=2.0, width_m=1.5, front_x_m=-10.0)
    assert _feed(det, cam, [cone], 1000, 2500)[-1]["bay"]
    det.note_empty({"bay": True})
    states = _feed(det, cam, [cone], 2500, 16_000)
    # Still reported while the disagreement is young, taken in after absorb_ms.
    assert states[int(3000 / FRAME_MS)]["bay"]
    assert not states[-1]["bay"]


def test_controller_mode_never_refreshes_a_zone_not_known_empty() -> None:
    """Without note_empty an object stays present however long it is quiet."""
    cam = _camera()
    det = _detector(cam, standalone=False, quiet_ms=1000, refresh_every_ms=200)
    _feed(det, cam, [], 0, 1000)
    cone = Vehicle(id=9, length_m=2.0, width_m=1.5, front_x_m=-10.0)
    det.note_empty({"bay": False, "exit": True})
    states = _feed(det, cam, [cone], 1000, 15_000)
    assert all(s["bay"] for s in states[10:])


def test_global_light_step_makes_no_presence() -> None:
    """Exposure halving and recovering over an empty lane is compensated, not presence."""
    cam = _camera()
    det = _detector(cam)
    base = [cam.render([], 0, t) for t in range(0, 2000, FRAME_MS)]
    for k, frame in enumerate(base):
        det.process(frame, k * FRAME_MS)
    for k in range(60):
        gain = 0.5 if 10 <= k < 40 else 1.0
        frame = np.clip(cam.render([], 0, 3000 + k * FRAME_MS) * gain + 4, 0, 255).astype(np.uint8)
        det_k = det.process(frame, 3000 + k * FRAME_MS)
        assert not any(on for _, on in det_k.occupied), k
        assert det_k.faults == frozenset()


def _constant(value: int) -> npt.NDArray[np.uint8]:
    return np.full((SPEC.height, SPEC.width), value, dtype=np.uint8)


def test_frozen_picture_is_a_fault_not_empty() -> None:
    """Identical frames for longer than frozen_ms raise FROZEN; fresh frames clear it."""
    cam = _camera()
    det = _detector(cam, frozen_ms=1000, fault_clear_ms=500)
    _feed(det, cam, [], 0, 1000)
    still = cam.render([], 0, 1000)
    faults = [det.process(still.copy(), t).faults for t in range(1000, 3000, FRAME_MS)]
    assert Fault.FROZEN not in faults[5]
    assert Fault.FROZEN in faults[-1]
    later = _feed(det, cam, [], 3000, 4500)
    assert later is not None
    assert det.process(cam.render([], 0, 4600), 4600).faults == frozenset()


@pytest.mark.parametrize("value", [0, 128, 255])
def test_blinded_picture_is_a_fault(value: int) -> None:
    """A black, white or textureless picture raises BLINDED after blind_ms."""
    cam = _camera()
    det = _detector(cam, blind_ms=300)
    _feed(det, cam, [], 0, 1000)
    faults = [det.process(_constant(value), t).faults for t in range(1000, 2000, FRAME_MS)]
    assert Fault.BLINDED in faults[-1]


def test_moved_camera_is_shaken() -> None:
    """A view moved far beyond max_shift_px raises SHAKEN instead of presence everywhere."""
    cam = _camera()
    det = _detector(cam, shaken_ms=200)
    _feed(det, cam, [], 0, 1000)
    faults = set()
    for t in range(1000, 2000, FRAME_MS):
        moved = np.roll(cam.render([], 0, t), 60, axis=0)
        faults |= det.process(moved, t).faults
    assert Fault.SHAKEN in faults


def test_small_sway_is_compensated() -> None:
    """A picture moved by two pixels is re-aligned: no presence, no fault."""
    cam = _camera()
    det = _detector(cam)
    _feed(det, cam, [], 0, 1000)
    for k, t in enumerate(range(1000, 3000, FRAME_MS)):
        moved = np.roll(cam.render([], 0, t), 2 if k % 2 else -2, axis=1)
        d = det.process(moved, t)
        assert not any(on for _, on in d.occupied)
        assert d.faults == frozenset()


def test_zones_follow_a_camera_that_settled_elsewhere() -> None:
    """After warm-up the picture sits 3 px further right for good: once enough sway has
    been measured the zones are laid 3 px further right in the reference's terms (to
    within ``anchor_px``: the zones move again only when the mean sway moves that far)."""
    cam = _camera()
    det = _detector(cam, anchor_frames=20)
    _feed(det, cam, [], 0, 400)
    for t in range(400, 4000, FRAME_MS):
        moved = np.roll(cam.render([], 0, t), 3, axis=1)
        d = det.process(moved, t)
        assert not any(on for _, on in d.occupied)
    dx, dy = det._zone_offset
    assert dx == pytest.approx(-3.0, abs=det.settings.anchor_px + 0.05) and abs(dy) < 0.3


def test_a_zone_that_would_leave_the_picture_stays_where_it_is() -> None:
    """A zone at the frame's edge is not moved out of the picture (no error, no crash)."""
    rng = np.random.default_rng(3)
    texture = rng.integers(40, 200, (180, 320)).astype(np.uint8)
    edge = Zone("bay", ((0.0, 80.0), (6.0, 80.0), (6.0, 100.0), (0.0, 100.0)))
    det = Detector([edge], 180, 320, DetectorSettings(anchor_frames=5))
    for k in range(5):
        det.process(texture, k * FRAME_MS)
    before = det._masks["bay"].copy()
    for k in range(5, 30):
        d = det.process(np.roll(texture, 12, axis=1), k * FRAME_MS)
        assert d.ready
    assert det._zone_offset == (0.0, 0.0)
    assert np.array_equal(det._masks["bay"], before)


def test_wrong_frame_shape_is_a_named_error() -> None:
    """A frame of another size or type is refused with a message naming it."""
    det = _detector(_camera())
    with pytest.raises(ValueError, match="frame: shape"):
        det.process(np.zeros((10, 10), dtype=np.uint8), 0)
    with pytest.raises(ValueError, match="uint8"):
        det.process(np.zeros((SPEC.height, SPEC.width), dtype=np.float32), 0)  # type: ignore[arg-type]


def test_settings_from_mapping_names_bad_keys() -> None:
    """Unknown keys, wrong types and out-of-range values name the key."""
    assert DetectorSettings.from_mapping({"cell": 8, "light_corr": 1}).light_corr == 1.0
    with pytest.raises(SettingsError, match=r"cam\.colour: unknown"):
        DetectorSettings.from_mapping({"colour": 1}, source="cam")
    with pytest.raises(SettingsError, match=r"cam\.cell: expected int"):
        DetectorSettings.from_mapping({"cell": 4.5}, source="cam")
    with pytest.raises(SettingsError, match="cell_fraction"):
        DetectorSettings.from_mapping({"cell_fraction": 2.0})
    with pytest.raises(SettingsError, match="on_ms"):
        DetectorSettings(on_ms=-1)


def test_zone_order_and_lookup() -> None:
    """Detections list zones in definition order; an unknown zone name is a KeyError."""
    zones = (
        Zone("b", ((0.0, 0.0), (40.0, 0.0), (40.0, 40.0), (0.0, 40.0))),
        Zone("a", ((40.0, 0.0), (80.0, 0.0), (80.0, 40.0), (40.0, 40.0))),
    )
    det = Detector(zones, 48, 96, DetectorSettings(warmup_frames=1))
    d = det.process(np.full((48, 96), 100, dtype=np.uint8), 0)
    assert [n for n, _ in d.occupied] == ["b", "a"]
    with pytest.raises(KeyError):
        d.zone("c")


def test_not_ready_until_the_first_reference_exists() -> None:
    """The warm-up frames report not ready (unhealthy), never an empty lane."""
    cam = _camera()
    det = _detector(cam, warmup_frames=3)
    first = [det.process(cam.render([], 0, t), t) for t in (0, 67, 134)]
    assert [d.ready for d in first] == [False, False, True]
    assert not first[0].healthy and first[2].healthy


def _road(height: int = 120, width: int = 160, seed: int = 5) -> npt.NDArray[np.uint8]:
    """Textured asphalt: the light-only test needs texture to compare."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(104.0, 9.0, (height, width)), 0, 255).astype(np.uint8)


def _split_lane(edge_x: float) -> list[Zone]:
    return [
        Zone("a", ((0.0, 40.0), (edge_x, 40.0), (edge_x, 80.0), (0.0, 80.0))),
        Zone("b", ((edge_x, 40.0), (160.0, 40.0), (160.0, 80.0), (edge_x, 80.0))),
    ]


def _warmed(zones: list[Zone], road: npt.NDArray[np.uint8], **settings: object) -> Detector:
    det = Detector(zones, road.shape[0], road.shape[1], DetectorSettings(**settings))  # type: ignore[arg-type]
    for k in range(8):
        det.process(road, k * FRAME_MS)
    return det


def test_a_body_two_pixels_into_a_zone_is_in_it() -> None:
    """The zones meet inside a cell (x = 62.6, cell 60-63; b's pixel there is 63): a body
    whose front covers b's first two pixels (63, 64) is in b, though neither cell it
    reaches is a third covered; one that stops at pixel 62 is only in a."""
    road = _road()
    det = _warmed(_split_lane(62.6), road)
    short = road.copy()
    short[44:76, 30:63] = 220
    # Two frames: a body out of nothing is confirmed by the next frame (``debounce``).
    det.process(short, 567)
    d = det.process(short, 600)
    assert d.zone("a") and not d.zone("b")
    det = _warmed(_split_lane(62.6), road)
    into = road.copy()
    into[44:76, 30:65] = 220
    det.process(into, 567)
    d = det.process(into, 600)
    assert d.zone("a") and d.zone("b")


def test_a_bright_body_over_a_bright_marking_is_not_light() -> None:
    """A car's rear, four pixels left in zone a over the painted line at its end, follows
    the line's texture closely enough to pass for light; light cannot raise the texture's
    contrast more than the brightness, a bright body over a line does. Without that rule
    (``light_contrast`` out of reach) zone a goes empty with the rear still in it."""
    road = _road()
    road[:, 62:64] = 175
    rear = road.copy()
    rear[44:76, 60:140] = 215
    rear[44:76, 60] = 118
    rear[44:76, 64:68] = 40
    for contrast, seen in ((1.35, True), (100.0, False)):
        det = _warmed(_split_lane(64.0), road, light_contrast=contrast)
        det.process(rear, 600)
        assert det.process(rear, 600 + FRAME_MS).zone("a") is seen, contrast


@pytest.mark.parametrize("shift", [(1.37, -0.84), (-2.2, 0.45), (0.3, 0.2)])
def test_sway_is_measured_to_a_tenth_of_a_pixel(shift: tuple[float, float]) -> None:
    """Sub-pixel sway comes out within 0.1 px: off by more, every marking's edge
    is left in the difference and crawls into the zones."""
    cam = LaneCamera(CameraSpec(), Condition.DAY, seed=2)
    det = Detector(cam.zones(), 360, 640, DetectorSettings())
    for k in range(6):
        det.process(cam.render([], 0, k * FRAME_MS), k * FRAME_MS)
    frame = cam.render([], 0, 6 * FRAME_MS)
    matrix = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
    moved = cv2.warpAffine(
        frame, matrix, (640, 360), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    d = det.process(np.asarray(moved, dtype=np.uint8), 6 * FRAME_MS)
    assert d.shift_px[0] == pytest.approx(shift[0], abs=0.1)
    assert d.shift_px[1] == pytest.approx(shift[1], abs=0.1)
    assert not any(on for _, on in d.occupied)


def test_specks_along_a_zone_edge_do_not_add_up_to_a_vehicle() -> None:
    """Pairs of differing cells scattered over a zone (misregistered specks of texture)
    are not a body however many there are; five touching cells are."""
    road = _road()
    det = _warmed(_split_lane(64.0), road)
    specks = road.copy()
    for row, col in ((44, 72), (56, 96), (68, 120), (44, 140)):
        specks[row : row + 4, col : col + 8] = 230
    d = det.process(specks, 600)
    assert not d.zone("b")
    body = road.copy()
    body[44:64, 100:104] = 230
    assert det.process(body, 600 + FRAME_MS).zone("b")


def test_a_cell_passed_for_light_inside_a_body_does_not_split_it() -> None:
    """Three body cells, one that differs but passed for light, three more: one body of six.
    Had the middle cell not differed at all, they are two bodies of three."""
    road = _road()
    det = _warmed(_split_lane(64.0), road)
    rows, cols = det._masks["b"].shape
    body = np.zeros((rows, cols), dtype=bool)
    body[11:14, 20] = True
    body[15:18, 20] = True
    differs = body.copy()
    differs[14, 20] = True
    no_edges = {n: np.zeros(e.rows.size, dtype=bool) for n, e in det._grid.edges.items()}
    assert det._bodies.counts(det._grid, body, differs, no_edges)["b"] == 6
    assert det._bodies.counts(det._grid, body, body, no_edges)["b"] == 3


def test_zones_are_laid_by_quarter_pixels_and_each_placement_is_built_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The zones move by quarter pixels, and a placement's cell maps are built once:
    after a new reference puts them back at rest and the mast settles where it was,
    nothing is rebuilt."""
    import controller.vision.detector as detector_module

    builds: list[int] = []
    real = detector_module.zone_grid

    def counting(*args: object, **kwargs: object) -> object:
        builds.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    cam = _camera()
    det = _detector(cam, anchor_frames=5)
    _feed(det, cam, [], 0, 335)
    monkeypatch.setattr(detector_module, "zone_grid", counting)
    rounds: list[tuple[int, set[tuple[float, float]]]] = []
    for _ in range(2):
        offsets = set()
        det.process(cam.render([], 0, 335), 335)
        for t in range(400, 2400, FRAME_MS):
            det.process(np.roll(cam.render([], 0, t), 3, axis=1), t)
            offsets.add(det._zone_offset)
        assert det._zone_offset[0] == pytest.approx(-3.0, abs=det.settings.anchor_px)
        rounds.append((len(builds), offsets))
        det.reset_reference(cam.render([], 0, 2400))
        assert det._zone_offset == (0.0, 0.0)
    (first, seen), (second, again) = rounds
    assert all(4 * dx == int(4 * dx) and 4 * dy == int(4 * dy) for dx, dy in seen)
    assert first == len(seen - {(0.0, 0.0)}) >= 1
    assert seen & again - {(0.0, 0.0)}, "the second settle revisits no placement"
    # Only placements not laid before are built.
    assert second - first == len(again - seen - {(0.0, 0.0)}), builds


def test_a_zones_known_empty_clock_follows_the_controller_when_it_changes() -> None:
    """The clock of being known empty starts at the first frame after note_empty says so,
    stands while the controller says the same, and restarts after it said otherwise:
    a change taken in after absorb_ms counts from the last time it said empty."""
    cam = _camera()
    det = _detector(cam, standalone=False, quiet_ms=1000, refresh_every_ms=200, absorb_ms=3000)
    _feed(det, cam, [], 0, 1000)
    cone = Vehicle(id=9, length_m=2.0, width_m=1.5, front_x_m=-10.0)
    _feed(det, cam, [cone], 1000, 2000)
    bay = det._state["bay"]
    assert bay.known_since is None
    det.note_empty({"bay": True})
    det.process(cam.render([cone], 0, 2010), 2010)
    assert bay.known_since == 2010
    det.note_empty({"bay": True, "exit": False})
    det.process(cam.render([cone], 0, 2077), 2077)
    assert bay.known_since == 2010
    det.note_empty({"bay": False})
    det.process(cam.render([cone], 0, 2144), 2144)
    assert bay.known_since is None
    det.note_empty({"bay": True})
    states = _feed(det, cam, [cone], 2211, 9000)
    assert bay.known_since == 2211
    # Present until absorb_ms after 2211 (not after 2010), absorbed later.
    assert all(s["bay"] for s in states[: int(2900 / FRAME_MS)])
    assert not states[-1]["bay"]


def test_the_answers_pairs_follow_every_zones_state() -> None:
    """Each answer's per-zone pairs are the zones' states of that frame, however often the
    same values came before (the pairs are kept per set of values)."""
    cam = _camera()
    # Raw before on: frames whose zones are on alike but raw not.
    det = _detector(cam, motion_on_ms=300, on_ms=300)
    _feed(det, cam, [], 0, 1000)
    seen_on = set()
    for k, t in enumerate(range(1005, 6005, FRAME_MS)):
        car = Vehicle(id=3, front_x_m=-30.0 + 0.4 * k, speed_mps=6.0)
        d = det.process(cam.render([car], 0, t), t)
        names = det.zone_names
        assert d.occupied == tuple((n, det._state[n].on) for n in names)
        assert d.raw == tuple((n, det._state[n].raw) for n in names)
        assert d.still_ms == tuple((n, det._still[n].still_ms(t)) for n in names)
        seen_on.add(tuple(v for _, v in d.occupied))
    assert len(seen_on) >= 3


def test_the_motion_threshold_follows_the_light_fits_gain() -> None:
    """Darker exposure lowers the motion threshold with the fitted gain, frame after frame
    (it is worked out again whenever the gain changes, not kept from the first)."""
    cam = _camera()
    det = _detector(cam, motion_threshold=40, motion_floor=6)
    s = det.settings
    seen = set()
    for k, t in enumerate(range(0, 6000, FRAME_MS)):
        scale = 1.0 if k < 30 else 0.45 if k < 60 else 0.7
        frame = np.clip(cam.render([], 0, t).astype(np.float64) * scale, 0, 255).astype(np.uint8)
        det.process(frame, t)
        want = max(s.motion_floor, round(s.motion_threshold * min(1.0, det._gain_q8 / 256)))
        assert det._motion_threshold() == want, (t, det._gain_q8)
        seen.add(want)
    assert len(seen) >= 3

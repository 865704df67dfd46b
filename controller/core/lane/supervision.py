"""Supervision: the input bookkeeping of each scan with fresh inputs, S8 checks on the boom,
stuck loops, camera health and camera-vs-loop agreement."""

from __future__ import annotations

from controller.core.lane.crossings import crossings
from controller.core.lane.guards import never_still
from controller.core.lane.names import (
    FAULT_BOTH_LIMITS,
    FAULT_DOWN_LIMIT_LOST,
    FAULT_ESTOP,
    FAULT_LOWER_TIMEOUT,
    FAULT_MOTOR,
    FAULT_PHOTOCELL,
    FAULT_RAISE_TIMEOUT,
    FAULT_UP_LIMIT_LOST,
    Motion,
)
from controller.core.lane.state import LaneState, replace_state
from controller.core.lane.view import View
from controller.core.presence import bay_occupied, camera_barrier
from controller.core.types import CameraHealth, CameraZones, Inputs, Phase

__all__ = ["first_observation", "supervise"]


def first_observation(s: LaneState, i: Inputs, now: int) -> LaneState:
    """The lane's first scan: every "since" time and remembered input starts here."""
    blind = FAULT_PHOTOCELL in s.faults
    clear = not (i.photocell or blind or i.safety_edge or camera_barrier(i))
    bay = bay_occupied(i)
    return replace_state(
        s,
        observed=True,
        phase_since=now,
        entry_since=now,
        motion_since=now,
        bay=bay,
        bay_since=now,
        loop_bay_since=now,
        clear=clear,
        clear_since=now,
        approach_since=now,
        exit_since=now,
        p_loop_approach=i.loop_approach,
        p_loop_bay=i.loop_bay,
        p_loop_exit=i.loop_exit,
        p_photocell=i.photocell,
        p_up=i.barrier_up,
        p_down=i.barrier_down,
        p_estop=i.estop,
        p_motor_fault=i.motor_fault,
        p_release=i.release_button,
        p_aside=i.send_aside_button,
        p_io_tripped=i.io_watchdog_tripped,
    )


def supervise(v: View) -> None:
    """Input bookkeeping and the S8 / sensor checks (only with fresh inputs)."""
    s, i, sc, cfg = v.state, v.inputs, v, v.config
    ch = sc.changes
    now = sc.now
    if i.estop and not s.p_estop:
        sc.fault(s, FAULT_ESTOP)
    if i.motor_fault and not s.p_motor_fault:
        sc.emit("motor_fault")
        sc.fault(s, FAULT_MOTOR)
    up, down = i.barrier_up, i.barrier_down
    if up and down:
        sc.fault(s, FAULT_BOTH_LIMITS)
    if s.motion is Motion.IDLE:
        if s.p_down and not down and not up:
            sc.fault(s, FAULT_DOWN_LIMIT_LOST)
        if s.p_up and not up and not down:
            sc.fault(s, FAULT_UP_LIMIT_LOST)
    elif now - s.motion_since > cfg.travel_timeout_ms:
        if s.motion is Motion.RAISING and not up:
            sc.fault(s, FAULT_RAISE_TIMEOUT)
        elif s.motion is Motion.LOWERING and not down:
            sc.fault(s, FAULT_LOWER_TIMEOUT)

    # Presence bookkeeping.
    cam = i.camera
    cam_ok = v.cam_ok
    bay = v.bay
    if bay is not s.bay:
        ch["bay"] = bay
        ch["bay_since"] = now
    crossings(v)
    v.settle()
    clear = v.clear
    if clear is not s.clear:
        ch["clear"] = clear
        ch["clear_since"] = now
    if i.loop_bay is not s.p_loop_bay:
        ch["p_loop_bay"] = i.loop_bay
        ch["loop_bay_since"] = now
    if i.loop_approach is not s.p_loop_approach:
        ch["p_loop_approach"] = i.loop_approach
        ch["approach_since"] = now
    if i.loop_exit is not s.p_loop_exit:
        ch["p_loop_exit"] = i.loop_exit
        ch["exit_since"] = now

    # Stuck loops: occupied for stuck_loop_ms while the camera (if healthy) sees nothing there.
    stuck = s.stuck
    new_stuck: list[str] = []
    limit = cfg.stuck_loop_ms
    for name, value, before, since, cam_zone in (
        ("loop_approach", i.loop_approach, s.p_loop_approach, s.approach_since, cam.approach),
        ("loop_bay", i.loop_bay, s.p_loop_bay, s.loop_bay_since, cam.bay),
        ("loop_exit", i.loop_exit, s.p_loop_exit, s.exit_since, cam.exit),
    ):
        if value and before and now - since >= limit and not (cam_ok and cam_zone):
            new_stuck.append(name)
            if name not in stuck:
                sc.emit("stuck_loop", loop=name, since_ms=since)
    if tuple(new_stuck) != stuck:
        ch["stuck"] = tuple(new_stuck)

    # Camera health and camera-vs-loop agreement.
    if cam.health is not s.camera:
        if cam.health is CameraHealth.FAULT:
            sc.emit("camera_fault")
        elif s.camera is CameraHealth.FAULT:
            sc.emit("camera_restored")
        ch["camera"] = cam.health
    if s.standstill or cam.bay_still_ms is not None:
        _standstill(s, cam, cam_ok, sc)
    disagree = cam_ok and (cam.bay != i.loop_bay or cam.barrier != i.photocell)
    if disagree:
        since_d = s.disagree_since
        if since_d is None:
            ch["disagree_since"] = now
        elif not s.disagree_reported and now - since_d >= cfg.disagreement_ms:
            ch["disagree_reported"] = True
            sc.emit(
                "sensor_disagreement",
                camera_bay=cam.bay,
                loop_bay=i.loop_bay,
                camera_barrier=cam.barrier,
                photocell=i.photocell,
                since_ms=since_d,
            )
    elif s.disagree_since is not None:
        ch["disagree_since"] = None
        ch["disagree_reported"] = False

    # Remember this scan's discrete inputs for the edges of the next one.
    for name, value, old in (
        ("p_photocell", i.photocell, s.p_photocell),
        ("p_up", up, s.p_up),
        ("p_down", down, s.p_down),
        ("p_estop", i.estop, s.p_estop),
        ("p_motor_fault", i.motor_fault, s.p_motor_fault),
        ("p_release", i.release_button, s.p_release),
        ("p_aside", i.send_aside_button, s.p_aside),
    ):
        if value is not old:
            ch[name] = value


def _standstill(s: LaneState, cam: CameraZones, cam_ok: bool, sc: View) -> None:
    """Note whether the camera reports the bay's standstill; once it has and then stops
    (a camera fault, no figure), journal the fallback to the loop rule once per episode."""
    if cam_ok and cam.bay_still_ms is not None:
        if not s.standstill:
            sc.changes["standstill"] = True
        since = sc.changes.get("loop_bay_since", s.loop_bay_since)
        assert isinstance(since, int)
        holding = (
            s.phase is Phase.ENTERING
            and sc.inputs.loop_bay
            and cam.bay_still_ms < s.config.standstill_ms
            and never_still(sc.now, since, s.config)
        )
        if holding:
            if not s.standstill_fallback:
                sc.changes["standstill_fallback"] = True
                sc.emit("standstill_fallback", reason="never_still")
        elif s.standstill_fallback:
            sc.changes["standstill_fallback"] = False
    elif s.standstill and not s.standstill_fallback:
        sc.changes["standstill_fallback"] = True
        reason = (
            "camera_fault"
            if cam.health is CameraHealth.FAULT
            else "camera_absent"
            if cam.health is CameraHealth.ABSENT
            else "no_standstill"
        )
        sc.emit("standstill_fallback", reason=reason)

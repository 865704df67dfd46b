"""Crossings (S11): every vehicle across the barrier line counted once, whichever sensor saw it."""

from __future__ import annotations

from controller.core.lane.names import CYCLE_MODES, FAULT_PHOTOCELL, PASS_RELEASE
from controller.core.lane.state import NO_WITNESS, BarrierWitness
from controller.core.lane.tables import AFTER_RELEASE_PHASES, RELEASED_PHASES
from controller.core.lane.view import View
from controller.core.types import EventValue, Mode

__all__ = ["crossings"]


def crossings(v: View) -> None:
    """S11: count every vehicle across the barrier line once, whichever sensor saw it.

    The photocell clearing with the exit loop occupied is a crossing; with the photocell
    latched blind, the exit loop's rising edge is. The vehicle expected across
    (``pending``) is also counted when the loops alone saw it go: it left the bay loop
    forward onto the exit loop without interrupting the photocell (which is then latched
    blind), the photocell saw it and went dark before it reached the exit loop, it left
    the exit loop with the photocell still occupied (stuck on, or a
    follower under it), it cleared the photocell with the bay loop empty but the exit
    loop not occupied (the exit loop is dead), or it is out of the bay and from under
    the boom when the bus returns, and on the exit loop or already at the line when the
    bus dropped.

    The healthy camera is the witness of what those miss (a photocell stuck on or off or
    latched blind, a dead exit loop, a bus drop: the camera is not read over the bus): its
    barrier zone emptying with the exit side occupied, when nothing counted a crossing since
    the zone last emptied, is a vehicle across (``detected_by="camera"``, ``seen_by`` the
    sensors that saw it). Without a camera, a vehicle nobody released is counted by the
    photocell and loops only as before: loops alone cannot tell it from one backing out,
    nor a photocell clearing with the bay and exit loop empty from one coming unstuck.
    """
    s, i, sc = v.state, v.inputs, v
    ch = sc.changes
    cam_ok = v.cam_ok
    blind = FAULT_PHOTOCELL in s.faults
    pending = s.pending
    fresh = i.bus_ok
    if fresh:
        crossing, by, unseen_by, exit_unseen = _sensor_crossing(v, blind)
    else:
        # Loops and photocell are stale: only the camera, read apart from the bus, can tell.
        crossing, by, unseen_by, exit_unseen = False, "", "", False
    extra: dict[str, EventValue] = {}
    missed_by = ""
    counted_unread = False
    w = s.witness
    if (
        w.occupied
        and cam_ok
        and not i.camera.barrier
        and not crossing
        and not w.counted
        and (i.camera.exit or (fresh and not s.bus_lost and i.loop_exit))
    ):
        # The barrier zone emptied forward and nothing counted this vehicle: the camera
        # is the witness of a crossing the photocell (stuck or blind) or the exit loop missed.
        crossing = True
        by = "camera"
        seen = ["camera_barrier"]
        if i.camera.exit:
            seen.append("camera_exit")
        if fresh and i.loop_exit:
            seen.append("loop_exit")
        if w.photocell_fell:
            seen.append("photocell")
        extra["seen_by"] = ",".join(seen)
        if not (fresh and not s.bus_lost):
            counted_unread = True
        elif not blind:
            missed_by = "loop_exit" if w.photocell_fell else "photocell"
    _witness(v, w, fresh and not s.bus_lost, crossing, counted_unread)
    if not crossing:
        return
    count = s.count + 1
    ch["count"] = count
    mode, phase = s.mode, s.phase
    if mode is Mode.EMERGENCY_OPEN:
        sc.emit("vehicle_passed", count=count, authorised="emergency_open", detected_by=by, **extra)
    elif not s.crossed and (pending or (mode in CYCLE_MODES and phase in RELEASED_PHASES)):
        ch["crossed"] = True
        ch["pending"] = ""
        ch["photocell_seen"] = ch["camera_seen"] = False
        sc.emit(
            "vehicle_passed",
            count=count,
            authorised=pending or PASS_RELEASE,
            detected_by=by,
            **extra,
        )
    elif mode in CYCLE_MODES and phase in AFTER_RELEASE_PHASES and s.crossed:
        sc.emit("tailgate", count=count, detected_by=by, **extra)
    else:
        sc.emit(
            "run_through", count=count, phase=phase.name, mode=mode.name, detected_by=by, **extra
        )
    if missed_by:
        sc.emit(
            "sensor_disagreement",
            sensor=missed_by,
            reason=f"the camera saw a vehicle cross the barrier line that the {missed_by} missed",
        )
        if missed_by == "photocell":
            sc.fault(s, FAULT_PHOTOCELL)
    if unseen_by:
        sc.emit(
            "sensor_disagreement",
            sensor="photocell",
            reason=f"{unseen_by} left the bay onto the exit loop unseen by the photocell",
        )
        sc.fault(s, FAULT_PHOTOCELL)
    if exit_unseen:
        sc.emit(
            "sensor_disagreement",
            sensor="loop_exit",
            reason="released vehicle cleared the photocell forward unseen by the exit loop",
        )


def _sensor_crossing(v: View, blind: bool) -> tuple[bool, str, str, bool]:
    """The crossing the photocell and loops show this scan (fresh inputs): whether there is
    one, the sensor that detected it, who went unseen by the photocell, and whether the
    released vehicle went unseen by the exit loop."""
    s, i = v.state, v.inputs
    ch = v.changes
    cam_barrier = v.cam_barrier
    pending = s.pending
    if pending == PASS_RELEASE:
        if i.photocell and not s.photocell_seen:
            ch["photocell_seen"] = True
        if cam_barrier and not s.camera_seen:
            ch["camera_seen"] = True
    # An edge across a bus drop during which the camera counted the vehicle is not another.
    across = not (s.bus_lost and s.witness.counted_unread)
    if blind:
        crossing = i.loop_exit and not s.p_loop_exit and across
        by = "exit_loop"
    else:
        crossing = s.p_photocell and not i.photocell and i.loop_exit and across
        by = "photocell"
    unseen = exit_unseen = False
    unseen_by = "released vehicle"
    if not crossing and pending and not s.crossed:
        bay = v.bay
        if (
            pending == PASS_RELEASE
            and not blind
            and not s.bus_lost
            and not s.photocell_seen
            and not i.photocell
            and s.p_loop_bay
            and not i.loop_bay
            and i.loop_exit
            and s.exit_since > s.motion_since
        ):
            # The exit loop must have come on after the boom last started or stopped
            # moving: one occupied since before the raise (stuck on, or the last vehicle
            # still on it) says nothing about where the released vehicle is.
            crossing = unseen = True
            by = "camera" if s.camera_seen or cam_barrier else "exit_loop"
        elif (
            pending == PASS_RELEASE
            and not blind
            and not s.bus_lost
            and s.photocell_seen
            and not i.photocell
            and i.loop_exit
            and not bay
            and s.exit_since > s.motion_since
        ):
            # The photocell saw the released vehicle, then went dark before the vehicle
            # reached the exit loop (it failed under the body), so its clearing edge never
            # met the exit loop. Out of the bay and on an exit loop that came on since the
            # boom stopped: across.
            crossing = True
            by = "exit_loop"
        elif (
            not blind
            and not s.bus_lost
            and i.photocell
            and s.p_loop_exit
            and not i.loop_exit
            and not bay
        ):
            # Off the exit loop while the photocell still reads occupied: one vehicle clears
            # the photocell long before the exit loop, so the photocell is stuck on or a
            # follower is under it. Either way the released one is across.
            crossing = True
            by = "exit_loop"
        elif (
            not blind
            and not s.bus_lost
            and s.p_photocell
            and not i.photocell
            and not i.loop_exit
            and not bay
        ):
            # The photocell cleared with the bay empty: a vehicle backing off the line
            # still stands on the bay loop then, so this one went forward, and the exit
            # loop (which it must cover at that moment) did not see it.
            crossing = exit_unseen = True
            by = "photocell"
        elif (
            s.bus_lost
            and (i.loop_exit or s.p_photocell or s.p_loop_exit)
            and not bay
            and not i.photocell
            and not cam_barrier
        ):
            crossing = True
            by = "bus_restored"
    return crossing, by, unseen_by if unseen else "", exit_unseen


def _witness(
    v: View,
    w: BarrierWitness,
    photocell_read: bool,
    counted: bool,
    counted_unread: bool,
) -> None:
    """Carry the barrier zone's view of its occupancy to the next scan.

    A count while the zone reads empty is kept for the occupancy to come: the camera
    lags the photocell and the loops, so that vehicle is the one the zone will see. What
    the photocell did is noted only while it is read (``photocell_read``): a stale
    reading tells nothing.
    """
    s, i = v.state, v.inputs
    cam_ok = v.cam_ok
    unread = counted_unread or (w.counted_unread and not photocell_read)
    if not cam_ok:
        new = NO_WITNESS
    elif (
        not i.camera.barrier
        and not w.occupied
        and (w.counted or not counted)
        and unread is w.counted_unread
    ):
        new = w
    elif i.camera.barrier:
        fell = w.photocell_fell or (photocell_read and s.p_photocell and not i.photocell)
        new = BarrierWitness(True, w.counted or counted, fell, unread)
    elif w.occupied:
        new = BarrierWitness(counted_unread=unread)
    else:
        new = BarrierWitness(counted=w.counted or counted, counted_unread=unread)
    if new is not w and new != w:
        v.changes["witness"] = new

"""Where things are along the simulated lane, in metres.

The x axis runs along the lane in the direction of travel with the barrier
line at x = 0; y runs across it, 0 on the lane's centre line. The plant places
its sensors from this, and the camera renders and labels its zones from it, so
the two always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LaneGeometry", "Span"]


@dataclass(frozen=True, slots=True)
class Span:
    """A closed interval [start, end] along the lane, metres."""

    start: float
    end: float

    def overlaps(self, rear: float, front: float) -> bool:
        """True when a body occupying [rear, front] covers any part of the span."""
        return front >= self.start and rear <= self.end


@dataclass(frozen=True, slots=True)
class LaneGeometry:
    lane_width_m: float = 3.5
    spawn_x_m: float = -60.0
    """Where a new vehicle's front appears, out of every sensor's reach."""
    approach_loop: Span = Span(-28.0, -24.0)
    bay_entry_x_m: float = -21.0
    """The entry signal stands here; a vehicle past it is in the bay."""
    bay_loop: Span = Span(-8.0, -2.0)
    stop_line_x_m: float = -1.0
    """Compliant drivers stop with their front bumper here."""
    photocell: Span = Span(-0.3, 0.3)
    boom_x_m: float = 0.0
    exit_loop: Span = Span(2.0, 6.0)
    despawn_x_m: float = 40.0
    """A vehicle whose rear passes this has left the simulation."""
    aside_y_m: float = 4.0
    """Sent-aside vehicles leave sideways to this lateral offset before they vanish."""
    neighbour_lane_y_m: float = 4.0
    """Centre of the through lane beside the bay lane (the one sent-aside vehicles pull
    into); its traffic passes without stopping and is never in a camera zone."""
    # Camera zones (what the camera labels as ground truth), along the lane.
    zone_approach: Span = Span(-32.0, -21.0)
    zone_bay: Span = Span(-21.0, -0.8)
    zone_barrier: Span = Span(-0.8, 0.8)
    zone_exit: Span = Span(0.8, 10.0)
    # The boom arm and how low it may come before it touches a vehicle.
    boom_span: Span = Span(-0.1, 0.1)
    """Where the boom arm lies across the lane when down; a body in it is under the boom."""
    boom_contact_permille: int = 700
    """Below this position (0 down .. 1000 up) the arm is at roof height and touches a vehicle."""
    loop_margin_m: float = 0.3
    """Loops stop this far inside each lane edge: a vehicle pulled aside is off them."""

    def in_lane(self, lateral_y_m: float, width_m: float) -> bool:
        """True when a body at this lateral offset still covers part of the lane's loops."""
        half_loop = self.lane_width_m / 2 - self.loop_margin_m
        return abs(lateral_y_m) - width_m / 2 < half_loop

"""Estimate hiking time for a route with Naismith's rule.

Naismith's rule (William W. Naismith, 1892) allows one hour for every 5 kilometres of
horizontal distance plus one additional hour for every 600 metres of ascent. Tranter's
corrections adjust the result for fitness and fatigue; this module implements only the
basic rule and a simple descent allowance.

Example:
    >>> round(naismith_hours(10.0, 600.0), 2)
    3.0
"""

from __future__ import annotations

from dataclasses import dataclass

KM_PER_HOUR = 5.0
ASCENT_METRES_PER_HOUR = 600.0
# Steep descents slow walkers down too: add 10 minutes per 300 m of steep descent.
STEEP_DESCENT_MINUTES_PER_300_M = 10.0


@dataclass(frozen=True)
class Leg:
    """One leg of a route: horizontal distance in km, ascent and steep descent in metres."""

    distance_km: float
    ascent_m: float = 0.0
    steep_descent_m: float = 0.0


def naismith_hours(distance_km: float, ascent_m: float) -> float:
    """Hours needed for `distance_km` of walking with `ascent_m` metres of climbing."""
    if distance_km < 0 or ascent_m < 0:
        raise ValueError("distance and ascent must be non-negative")
    return distance_km / KM_PER_HOUR + ascent_m / ASCENT_METRES_PER_HOUR


def route_hours(legs: list[Leg]) -> float:
    """Total hours for a route made of several legs, including the steep-descent allowance."""
    total = 0.0
    for leg in legs:
        total += naismith_hours(leg.distance_km, leg.ascent_m)
        total += leg.steep_descent_m / 300.0 * STEEP_DESCENT_MINUTES_PER_300_M / 60.0
    return total


if __name__ == "__main__":
    day = [Leg(4.0, 450.0), Leg(3.5, 120.0, 300.0), Leg(6.0, 0.0, 450.0)]
    print(f"Estimated walking time: {route_hours(day):.1f} h")

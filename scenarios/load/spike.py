"""Spike load: a baseline of 20 % of the users, a sudden spike to all 50 for a fifth of the
run, then back to the baseline to watch recovery (3 minutes in all).

Plain Locust: ``locust -f scenarios/load/spike.py --headless --host http://HOST``.
"""

from tenant_api import StagedShape, TenantApiUser

__all__ = ["SpikeShape", "TenantApiUser"]


class SpikeShape(StagedShape):
    users = 50
    duration_s = 180.0
    stages = (
        ("ramp", 0.1, 0.2, True),
        ("steady", 0.4, 0.2, False),
        ("spike", 0.6, 1.0, False),
        ("recovery", 1.0, 0.2, False),
    )

"""Smoke load: 10 users for 15 s (3 s ramp), ~100 req/s; a quick "does it hold at all".

Plain Locust: ``locust -f scenarios/load/smoke.py --headless --host http://HOST``.
"""

from tenant_api import StagedShape, TenantApiUser

__all__ = ["SmokeShape", "TenantApiUser"]


class SmokeShape(StagedShape):
    users = 10
    duration_s = 15.0
    stages = (("ramp", 0.2, 1.0, True), ("steady", 1.0, 1.0, False))

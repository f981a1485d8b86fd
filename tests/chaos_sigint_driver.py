"""Child process of test_chaos_e2e's SIGINT test: runs one experiment on a fresh sandbox and,
whatever happens, writes what was still in place before tearing the sandbox down."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gauntlet.blueprint import load_blueprint
from gauntlet.blueprint.probes import with_outsider
from gauntlet.chaos.runner import ChaosOptions, run_chaos
from gauntlet.plugin import REFERENCE_PLATFORM
from gauntlet.targets.local.sandbox import LocalSandbox


def main() -> int:
    experiment, name, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    bp = with_outsider(load_blueprint(REFERENCE_PLATFORM))
    sandbox = LocalSandbox(sandbox_name=name)
    status = "completed"
    try:
        sandbox.deploy(bp)
        print("deployed", flush=True)
        run_chaos(
            sandbox,
            Path(experiment),
            blueprint=bp,
            options=ChaosOptions(warmup_s=1.0, tail_s=0.5, recovery_timeout_s=10),
        )
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        active = sandbox.active_faults() if sandbox.proc is not None else []
        out.write_text(json.dumps({"status": status, "active_faults": active}))
        sandbox.teardown()
    return 130 if status == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(main())

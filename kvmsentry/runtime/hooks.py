"""OCI hooks: host programs the runtime runs at lifecycle points, each
given the container's state JSON on stdin (runtime spec, "Hooks")."""
import json
import subprocess

from kvmsentry.runtime.state import RuntimeError_


def run(spec, kind, state, fatal=True):
    """Run spec's `kind` hooks in order. A failing hook is an error for the
    hooks before the program starts, and only logged after (poststart,
    poststop), as the spec says."""
    for hook in spec.hooks.get(kind, ()):
        env = dict(e.split("=", 1) for e in hook.env if "=" in e)
        try:
            proc = subprocess.run(hook.args, executable=hook.path,
                                  input=json.dumps(state).encode(), env=env,
                                  capture_output=True, timeout=hook.timeout)
            failed = proc.returncode != 0 and "exit status %d: %s" % (
                proc.returncode, proc.stderr.decode(errors="replace").strip())
        except (OSError, subprocess.TimeoutExpired) as e:
            failed = str(e)
        if failed and fatal and kind not in ("poststart", "poststop"):
            raise RuntimeError_("%s hook %s failed: %s" % (kind, hook.path, failed))

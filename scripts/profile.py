"""`python scripts/profile.py ...`: the profiler's command line (implemented in scripts/profiler_cli.py).

This file has the name of the standard library's `profile` module, which torch imports (through cProfile).
Run as a script, it takes its own folder off the path before importing anything, so that name resolves to the
library. Imported (another script of this folder has the folder first on its path), it stands in for the
library's module, so that `python scripts/eval_tiny.py` and the others keep working.
"""

import sys

if __name__ == "__main__":
    from pathlib import Path

    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.append(str(here))  # behind the standard library: profiler_cli is found, `profile` is the library's
    from profiler_cli import main

    sys.exit(main())
else:
    import importlib.util
    import os
    import sysconfig

    _spec = importlib.util.spec_from_file_location(
        __name__, os.path.join(sysconfig.get_paths()["stdlib"], "profile.py")
    )
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[__name__] = _module
    _spec.loader.exec_module(_module)

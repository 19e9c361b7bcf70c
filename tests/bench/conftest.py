"""The benchmark lives outside ``src/``: make the repository root importable, and this
directory too, for the shared ``fakeissuer`` helper, whatever pytest's import mode."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (str(HERE.parents[1]), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

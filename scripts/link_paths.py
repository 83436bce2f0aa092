"""Put the checkout and its generated code (gen/) on the virtualenv's import path."""

import pathlib
import site

root = pathlib.Path(__file__).resolve().parent.parent
target = pathlib.Path(site.getsitepackages()[0]) / "oonledger-paths.pth"
target.write_text(f"{root}\n{root / 'gen'}\n")

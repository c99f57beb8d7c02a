"""genkit's own commands of the umbrella ``synthvid``: one module per top-level command or group.

``generate`` (``synthvid generate``), ``eval_train`` (``synthvid eval-train``), ``world`` (``synthvid world
...``), ``train`` (``synthvid train tiny``) and ``bench`` (``synthvid bench run|compare|merge``). Each is
shaped like a lower package's ``cli.py`` (an ``app = typer.Typer()`` the umbrella merges at top level,
see :mod:`genkit.cli`) and follows the same rules: typer, rich, the standard library and our errors at
module level; numpy, torch, diffusers and genkit's heavy modules inside the command functions.
:mod:`genkit.commands.common` holds what several of them share. Nothing else in genkit imports this
package (import-linter's contract in pyproject.toml); only :mod:`genkit.cli` does.
"""

"""Every setting, every CLI command and every integration snippet is in the README."""

from pathlib import Path

from typer.main import get_command

from spyglass.cli.main import app
from spyglass.settings import InitSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table():
    for name in Settings.model_fields:
        assert f"`SPYGLASS_{name.upper()}" in README, f"SPYGLASS_{name.upper()} is not documented in README.md"
    for name in InitSettings.model_fields:
        assert f"LANGFUSE_INIT_{name.upper()}" in README, f"LANGFUSE_INIT_{name.upper()} is not documented"


def test_every_cli_command_is_in_the_readme():
    command = get_command(app)
    for name, sub in command.commands.items():
        assert f"spyglass {name}" in README, f"`spyglass {name}` is not documented in README.md"
        for child in getattr(sub, "commands", {}):
            assert child in README, f"`spyglass {name} {child}` is not documented in README.md"


def test_every_integration_snippet_is_in_the_readme_verbatim():
    """The README's Integrations section shows docs/integrations/* exactly; tests run those files unchanged."""
    snippets = sorted((ROOT / "docs" / "integrations").iterdir())
    assert snippets, "docs/integrations is empty"
    for path in snippets:
        assert path.read_text().strip() in README, f"{path.name} differs from its copy in README.md (Integrations)"

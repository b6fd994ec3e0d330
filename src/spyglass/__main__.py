from spyglass.cli.main import app

app()

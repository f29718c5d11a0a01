from loopbaan_cli.main import app

app(prog_name="loopbaan")

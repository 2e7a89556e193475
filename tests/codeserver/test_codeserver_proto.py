"""The checked-in gRPC modules are exactly what ``scripts/gen-proto`` generates today."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import msgspec

from tether.codeserver import code_server_command
from tether.codeserver._protogen import PROTO_DIR, generate
from tether.wire import LocationSpec


def test_checked_in_proto_modules_are_current(tmp_path: Path) -> None:
    generated = generate(tmp_path)
    assert {p.name for p in generated} == {p.name for p in PROTO_DIR.glob("*.py*")}
    for path in generated:
        checked_in = PROTO_DIR / path.name
        assert checked_in.read_text() == path.read_text(), (
            f"{checked_in} is stale: run scripts/gen-proto"
        )
    assert "from . import codeserver_pb2" in (tmp_path / "codeserver_pb2_grpc.py").read_text()


def test_code_server_command_carries_the_spec() -> None:
    spec = LocationSpec(name="hello", module="hello.defs", working_directory="/srv", env={"A": "1"})
    argv = code_server_command(spec, 4266)
    assert argv[:5] == [sys.executable, "-m", "tether", "code-server", "serve"]
    assert argv[5] == "--location-json" and argv[7:] == ["--port", "4266"]
    assert msgspec.json.decode(argv[6], type=LocationSpec) == spec
    assert json.loads(argv[6])["name"] == "hello"
    assert code_server_command(spec, 1, python="/venv/bin/python")[0] == "/venv/bin/python"

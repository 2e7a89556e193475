"""Generating the checked-in gRPC modules in ``_proto/`` from ``schemas/codeserver.proto``.

Run through ``scripts/gen-proto``; a test regenerates into a temporary folder and compares,
so the checked-in modules never drift from the schema.
"""

from __future__ import annotations

import re
from pathlib import Path

PROTO_NAME = "codeserver.proto"
# in a source checkout: services/tether/codeserver/_protogen.py -> <repo>/schemas
SCHEMAS_DIR = Path(__file__).resolve().parents[3] / "schemas"
PROTO_DIR = Path(__file__).resolve().parent / "_proto"
GENERATED = ("codeserver_pb2.py", "codeserver_pb2.pyi", "codeserver_pb2_grpc.py")

# protoc writes `import codeserver_pb2 as ...`, which only works with _proto/ on sys.path
_ABSOLUTE_IMPORT = re.compile(r"^import codeserver_pb2 as (\w+)$", re.MULTILINE)


def generate(out_dir: Path, schemas_dir: Path = SCHEMAS_DIR) -> list[Path]:
    """Generate the message, stub and service modules into ``out_dir``; returns their paths."""
    # a dev-only dependency without type hints, imported only when generating
    from grpc_tools import protoc  # type: ignore[import-untyped]

    out_dir.mkdir(parents=True, exist_ok=True)
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"--proto_path={schemas_dir}",
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            str(schemas_dir / PROTO_NAME),
        ]
    )
    if status != 0:
        raise RuntimeError(f"protoc failed with status {status} on {schemas_dir / PROTO_NAME}")
    grpc_module = out_dir / "codeserver_pb2_grpc.py"
    grpc_module.write_text(
        _ABSOLUTE_IMPORT.sub(r"from . import codeserver_pb2 as \1", grpc_module.read_text())
    )
    init = out_dir / "__init__.py"
    init.write_text(
        f'"""Generated from schemas/{PROTO_NAME} by scripts/gen-proto; do not edit."""\n'
    )
    return [init, *(out_dir / name for name in GENERATED)]


if __name__ == "__main__":
    for path in generate(PROTO_DIR):
        print(path)

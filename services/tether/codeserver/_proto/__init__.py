"""Generated from schemas/codeserver.proto by scripts/gen-proto; do not edit."""

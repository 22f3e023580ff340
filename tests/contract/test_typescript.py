"""The API contract for TypeScript: openapi-typescript (package.json here; `npm ci` in .ci/run) makes types from the
live /api/schema/, and `tsc --noEmit` passes on predict.ts, which types a predict request and reads label,
probabilities, tags and translation without a cast."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.openapi import api_schema

HERE = Path(__file__).parent
TOOLS = HERE / "node_modules" / ".bin"


def run(*argv: str | Path, cwd: Path) -> None:
    assert (TOOLS / "tsc").exists(), f"run `npm ci --prefix {HERE.relative_to(HERE.parents[1])}` first (node 20)"
    result = subprocess.run([str(part) for part in argv], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_tsc_passes_on_code_that_types_a_prediction_from_the_generated_types(client, db, tmp_path):
    (tmp_path / "schema.json").write_bytes(client.get("/api/schema/", {"format": "json"}).content)
    run(TOOLS / "openapi-typescript", "schema.json", "--output", "api.d.ts", cwd=tmp_path)
    shutil.copy(HERE / "predict.ts", tmp_path)
    run(TOOLS / "tsc", "--noEmit", "--strict", "--target", "es2022", "--module", "esnext", "--moduleResolution",
        "bundler", "predict.ts", cwd=tmp_path)


def test_the_schema_served_is_the_one_the_suite_checks_answers_against(client, db):
    assert client.get("/api/schema/", {"format": "json"}).json() == api_schema()

"""Generate the JSON Schema of every topic's value into ``schemas/json/``.

Run ``python -m schemas.generate`` after changing a record; a test fails when
the files are stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from schemas.graph import ALL_TOPICS

SCHEMA_DIR = Path(__file__).parent / "json"


def render_schemas() -> dict[str, str]:
    """File name -> JSON Schema text, one per topic."""
    files = {}
    for topic in ALL_TOPICS:
        schema = topic.record.model_json_schema()
        schema["$id"] = f"newswire/{topic.suffix}.schema.json"
        schema["description"] = (
            f"{topic.description} Key: {topic.key}. " + schema.get("description", "").strip()
        )
        files[f"{topic.suffix}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def main() -> int:
    """Write the schema files; print what changed."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, text in render_schemas().items():
        path = SCHEMA_DIR / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

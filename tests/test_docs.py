"""The documents' references into the test suite name tests that exist."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_test_the_documents_cite_exists():
    defined = {path.name: {node.name for node in ast.parse(path.read_text()).body
                           if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
               for path in (ROOT / "tests").glob("test_*.py")}
    cited = [(doc.name, *match.groups()) for doc in ROOT.glob("*.md")
             for match in re.finditer(r"(test_\w+\.py)::(\w+)", doc.read_text())]
    assert len(cited) > 50          # RELIABILITY.md names the test behind each row
    missing = [f"{doc}: {file}::{name}" for doc, file, name in cited if name not in defined.get(file, ())]
    assert not missing, missing

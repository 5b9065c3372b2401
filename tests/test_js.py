"""Runs the browser-side unit tests (tests/js) with Node's built-in test runner."""

import shutil
import subprocess
from pathlib import Path

JS_TESTS = Path(__file__).parent / "js"


def test_browser_side_functions_pass_their_node_tests():
    node = shutil.which("node")
    assert node, "node is required for tests/js (Debian package nodejs)"
    files = sorted(str(p) for p in JS_TESTS.glob("*.test.js"))
    assert files
    result = subprocess.run([node, "--test", *files], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout

"""Parses the PowerShell scripts with the tree-sitter PowerShell grammar.

No PowerShell can be installed here (Debian's registries carry no `pwsh`), so this is
the closest thing to "the scripts parse": a syntax error anywhere fails CI, and so does
a command spelled as an alias (tests/powershell_aliases.txt). Before checking the real
scripts it proves, on known-bad snippets, that it would catch both.

Usage: python parse_powershell.py FILE.ps1...
"""

import pathlib
import sys

import tree_sitter_powershell
from tree_sitter import Language, Parser

ALIAS_FILE = pathlib.Path(__file__).resolve().parent.parent / "tests" / "powershell_aliases.txt"
ALIASES = {
    line.strip().lower()
    for line in ALIAS_FILE.read_text(encoding="ascii").splitlines()
    if line.strip() and not line.startswith("#")
} | {"foreach"}  # as a command name it is ForEach-Object; the loop is foreach_statement

PARSER = Parser(Language(tree_sitter_powershell.language()))


def problems(source: bytes) -> list[str]:
    """Syntax errors and aliased command names, as 'line:column: message'."""
    found = []
    stack = [PARSER.parse(source).root_node]
    while stack:
        node = stack.pop()
        line, column = node.start_point[0] + 1, node.start_point[1] + 1
        if node.type == "ERROR":
            text = source[node.start_byte : node.end_byte][:40].decode("ascii", "replace")
            found.append(f"{line}:{column}: syntax error near {text!r}")
        elif node.is_missing:
            found.append(f"{line}:{column}: missing {node.type!r}")
        elif node.type == "command_name":
            name = source[node.start_byte : node.end_byte].decode("ascii", "replace")
            if name.lower() in ALIASES:
                found.append(f"{line}:{column}: alias {name!r}; spell the command out")
        stack.extend(node.children)
    return sorted(found)


def self_test() -> None:
    """The checker must catch what it is for, or its silence means nothing."""
    bad = {
        b"if ($x { Write-Output 'a' }\r\n": "syntax",
        b"function f {\r\n    $a = @(1, 2\r\n}\r\n": "",
        b"Get-ChildItem | % { $_ }\r\n": "alias '%'",
        b"Get-ChildItem | foreach { $_ }\r\n": "alias 'foreach'",
        b"ls C:\\\r\n": "alias 'ls'",
    }
    for snippet, expected in bad.items():
        found = problems(snippet)
        assert found and any(expected in p for p in found), (snippet, found)
    good = b"foreach ($a in @(1, 2)) { Write-Output $a }\r\n& $exe @args 2>&1\r\n"
    assert problems(good) == [], problems(good)


def main(paths: list[str]) -> int:
    self_test()
    failed = False
    for path in paths:
        found = problems(pathlib.Path(path).read_bytes())
        for problem in found:
            print(f"{path}:{problem}")
        failed |= bool(found)
        if not found:
            print(f"{path}: parses, no aliases")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The YAML node walk (policy/yamltree.py): aliases are refused without being expanded."""

from __future__ import annotations

import pytest

from authserver.policy import load_policy_yaml, yamltree


def alias_bomb(levels: int, fanout: int) -> str:
    """A "billion laughs" document: each level lists the previous one ``fanout`` times."""
    lines = ["version: 1", "a0: &a0 [lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * fanout)
        lines.append(f"a{level}: &a{level} [{refs}]")
    lines.append(f"scopes: {{profile: *a{levels}}}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def conversions(monkeypatch) -> list[int]:
    """Counts the nodes the converter is asked to convert (a spy, not a stand-in)."""
    calls: list[int] = []
    convert = yamltree.Converter.convert

    def counting(self, node, path=()):
        calls.append(1)
        return convert(self, node, path)

    monkeypatch.setattr(yamltree.Converter, "convert", counting)
    return calls


def test_alias_bomb_conversion_work_is_linear_in_the_text(conversions) -> None:
    text = alias_bomb(levels=6, fanout=9)  # expanded, 9**6 = 531,441 scalars
    result = load_policy_yaml(text)
    assert result.policy is None
    assert len(conversions) < 100  # each node once: the text has about 70 nodes


def test_alias_bomb_of_the_review_is_refused_at_each_alias() -> None:
    text = alias_bomb(levels=9, fanout=9)  # the hostile review's shape, ~500 bytes
    assert len(text) < 600
    result = load_policy_yaml(text)
    assert result.policy is None
    messages = {issue.message for issue in result.errors}
    assert "YAML aliases (*a8) are not supported: write the value out" in messages
    assert all("alias" in message for message in messages)


def test_alias_refusal_reports_no_errors_about_the_values_left_out() -> None:
    result = load_policy_yaml("version: 1\nscopes: {profile: &d Read, documents:read: *d}\n")
    assert [(i.line, i.column, i.message) for i in result.errors] == [
        (2, 44, "YAML aliases (*d) are not supported: write the value out")
    ]

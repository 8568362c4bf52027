"""libyaml's composer (the fast path) and PyYAML's pure-Python one give the same nodes, marks and
diagnostics, on every shipped spec and on YAML chosen to differ where parsers tend to."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.specs import loading

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(
    p
    for folder in ("examples", "tests")
    for p in (ROOT / folder).rglob("*")
    if p.suffix in {".yaml", ".yml"}
)

TRICKY = {
    "non-ascii before a key": 'metadata: {name: "café ☕ 日本", labels: {team: ñ}}\nspec: {x: 1}\n',
    "emoji in a flow sequence": "tags: [🙂, 👍🏽, x]\nafter: 2\n",
    "documents": "---\nkind: Dataset\n---\n\n---\nkind: Project\n...\n",
    "anchors and aliases": "base: &b {epochs: 3}\nnext: *b\nlist: [&one 1, *one]\n",
    "block scalars": "a: |\n  line one\n  line two\nb: >-\n  folded\n  text\nc: 3\n",
    "crlf": "kind: Dataset\r\nspec:\r\n  path: data/train.jsonl\r\n",
    "bom": "\ufeffkind: Dataset\nspec: {}\n",
    "tabs in values": 'a: "x\\ty"\nb:\t1\n',
    "types": "i: 0o17\nf: 1e3\nb: yes\nn: ~\nt: 2026-12-01\ns: '0123'\nh: 0x1f\n",
    "deep": "a:\n  - b:\n      - c: {d: [1, {e: f}]}\n",
    "tag": "a: !!python/name:os.system x\nb: !custom 3\n",
    "duplicate keys": "a: 1\na: 2\n",
}

BROKEN = {
    "unclosed flow": "spec: {path: data/train.jsonl\nnext: 1\n",
    "bad indent": "a:\n  b: 1\n c: 2\n",
    "mapping in scalar": "a: b: c\n",
    "unclosed quote": 'a: "open\nb: 2\n',
    "tab indent": "a:\n\tb: 1\n",
    "undefined alias": "a: *nothing\n",
    "non-ascii then error": "name: café\n  bad: [\n",
}


def tree(node: Any) -> Any:
    if node is None:
        return None
    # Diagnostics point at start marks only (end marks differ at a file's last line).
    marks = (node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.MappingNode):
        return (node.tag, marks, [(tree(k), tree(v)) for k, v in node.value])
    if isinstance(node, yaml.SequenceNode):
        return (node.tag, marks, [tree(item) for item in node.value])
    return (node.tag, marks, node.value)


def composed(text: str, loader: type | None) -> Any:
    """The node trees as `loading.compose` builds them with `loader` as its fast loader."""
    original = loading.FAST_LOADER
    loading.FAST_LOADER = loader
    try:
        return [tree(n) for n in loading.compose(text)]
    except yaml.YAMLError as exc:
        return str(exc)
    finally:
        loading.FAST_LOADER = original


def mutants(count: int, seed: int) -> list[str]:
    """Shipped specs with one to three characters inserted, deleted or replaced by characters
    that matter to YAML: how the places where the parsers part were found."""
    rng = random.Random(seed)
    texts = [p.read_text(encoding="utf-8") for p in SHIPPED if p.suffix == ".yaml"]
    found = []
    for _ in range(count):
        text = list(rng.choice(texts))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text))
            roll = rng.random()
            if roll < 0.4:
                text.insert(at, rng.choice(YAML_CHARACTERS))
            elif roll < 0.7:
                del text[at]
            else:
                text[at] = rng.choice(YAML_CHARACTERS)
        found.append("".join(text))
    return found


YAML_CHARACTERS = list(":-{}[],#&*!|>'\"%@` \n?~0a\u00e9\r\ufeff\u2028\x85\t")


def test_the_fast_loader_is_there() -> None:
    assert loading.FAST_LOADER is yaml.CSafeLoader  # PyYAML's wheels ship libyaml


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_specs_compose_the_same_on_the_fast_path(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".yaml":  # every spec we ship takes the fast path
        assert loading._PARSERS_DIFFER.search(text) is None
    assert composed(text, yaml.CSafeLoader) == composed(text, None)


@pytest.mark.parametrize("text", TRICKY.values(), ids=TRICKY.keys())
def test_tricky_yaml_composes_the_same(text: str) -> None:
    assert composed(text, yaml.CSafeLoader) == composed(text, None)


def test_damaged_specs_compose_the_same_or_fail_the_same() -> None:
    texts = mutants(800, seed=12)
    differing = [t for t in texts if composed(t, yaml.CSafeLoader) != composed(t, None)]
    assert differing == []
    fast = [t for t in texts if loading._PARSERS_DIFFER.search(t) is None]
    assert len(fast) > len(texts) // 2  # most of them were compared on the fast path


def test_without_routing_the_parsers_would_differ() -> None:
    """The control: libyaml alone accepts what PyYAML rejects, so the routing is needed."""
    for text in ("a:\tb\n", "a: {x: }\n", "a: {ep?och: 1}\n"):
        fast = [tree(n) for n in yaml.compose_all(text, Loader=yaml.CSafeLoader)]
        assert fast != composed(text, None)


def diagnostics(tmp_path: Path, text: str, fast: type | None) -> list[Any]:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    original = loading.FAST_LOADER
    loading.FAST_LOADER = fast
    try:
        into = loading.Loaded()
        loading.load_file(path, into)
    finally:
        loading.FAST_LOADER = original
    return [dataclasses.asdict(d) for d in into.diagnostics]


@pytest.mark.parametrize("text", [*TRICKY.values(), *BROKEN.values()], ids=[*TRICKY, *BROKEN])
def test_both_loaders_give_identical_diagnostics(tmp_path: Path, text: str) -> None:
    fast = diagnostics(tmp_path, text, yaml.CSafeLoader)
    assert fast == diagnostics(tmp_path, text, None)


def test_damaged_specs_give_identical_diagnostics(tmp_path: Path) -> None:
    for text in mutants(200, seed=13):
        assert diagnostics(tmp_path, text, yaml.CSafeLoader) == diagnostics(tmp_path, text, None)


@pytest.mark.parametrize("text", BROKEN.values(), ids=BROKEN.keys())
def test_broken_yaml_is_a_located_syntax_error(tmp_path: Path, text: str) -> None:
    found = diagnostics(tmp_path, text, yaml.CSafeLoader)
    assert [d["code"] for d in found] == ["SPEC_YAML_SYNTAX"]
    assert found[0]["location"]["line"] is not None

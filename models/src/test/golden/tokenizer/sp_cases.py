"""Texts the SentencePiece golden fixtures encode: the prose paragraphs plus unicode and edge cases."""
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
RESOURCES = os.path.join(HERE, "..", "..", "resources", "tokenizer")


def prose():
    with open(os.path.join(RESOURCES, "prose.txt"), encoding="utf-8") as f:
        return f.read()


def cases():
    text = prose()
    out = [text]
    out += [p for p in text.split("\n\n")]
    out += text.split("\n")[:6]
    out += [
        "", " ", "  ", "\n", "\n\n", "\t", "a", "Hello world", "Hello  world", "Hello   world!",
        " leading space", "trailing space ", "  two leading", "line one\nline two\r\nline three",
        "tabs\tand\ttabs", "I \u2764\ufe0f \U0001f999 llamas \U0001f469\u200d\U0001f469\u200d\U0001f467 and \U0001f600\U0001f600",
        "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u4e2d\u6587\u6587\u672c",
        "e\u0301 versus \u00e9, a\u0308 versus \u00e4, \u1e9b\u0323", "\u00dcn\u00efc\u00f6d\u00e9 \u00e7a va? \u0141\u00f3d\u017a",
        "\u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd \u0928\u092e\u0938\u094d\u0924\u0947 \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
        "<s> literal </s> and <unk> and <0x41>", "@@ joined @@tokens<sep>here", "3.14159 and 1,000,000 and 2024-01-31",
        "def f(x):\n    return x ** 2\n", "\ufb01ne \uff21\uff22\uff23 full width", "\u00a0no-break\u00a0space",
        "\u2581 already a lower one eighth block \u2581\u2581", "zero\u200bwidth", "a" * 40, "ab" * 30,
        "The quick brown fox jumps over the lazy dog.", "\u00bfQu\u00e9 tal? \u00a1Muy bien!",
        "Stra\u00dfe \u0130stanbul \u03a3\u03bf\u03c6\u03af\u03b1 \u041f\u0440\u0438\u0432\u0435\u0442",
        "\U0001d400\U0001d401 math bold, \u2460\u2461 circled",
    ]
    return out + random_texts(40)


# Fragments the random texts are made of: whitespace runs, markup-like pieces, scripts, emoji, combining marks.
FRAGMENTS = list("aeiouthnsrl   ") + [
    "  ", "\n", "\t", "\r\n", "'s", "'T", "<s>", "</s>", "@@", "<sep>", "\u2581", "\u00e9", "e\u0301", "\u65e5",
    "\u672c", "\U0001f999", "\u2764\ufe0f", "\u20ac", "\u00a0", "\u3000", "\ufb01", "\uff21", "ABC", "123", "4567",
    "!", "?!", "...", "\u0645", "\u05e9", "\u0928\u094d", "\U0001d400", "\u200d", "<|begin_of_text|>", "[[note]]", "\u017f"]


def random_texts(n, seed=7):
    rng = random.Random(seed)
    return ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 24))) for _ in range(n)]

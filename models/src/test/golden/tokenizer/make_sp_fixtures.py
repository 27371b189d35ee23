"""Trains the small SentencePiece models under models/src/test/resources/tokenizer/ with Debian's spm_train
and writes their golden ids (and those of the Llama 2 tokenizer, when /work/shared is present) from Debian's
python3-sentencepiece. Run with /usr/bin/python3 from this directory; commit the outputs."""
import json
import os
import subprocess
import sys
import tempfile

import sentencepiece as spm

from sp_cases import RESOURCES, cases, prose

SHARED = os.environ.get("PEFT4J_SHARED", "/work/shared")


def corpus(path):
    extra = [
        "Unicode lines: caf\u00e9, na\u00efve, \u00fcber, \u65e5\u672c\u8a9e, \u4e2d\u6587, \U0001f999 llama, \u2764\ufe0f",
        "Numbers 0 1 2 3 4 5 6 7 8 9 and symbols !?.,;:'\"()[]{}<>/\\|@#$%^&*-_=+~`",
    ]
    with open(path, "w", encoding="utf-8") as f:
        for line in prose().split("\n") + extra:
            if line.strip():
                f.write(line + "\n")


def train(tmp):
    text = os.path.join(tmp, "corpus.txt")
    corpus(text)
    rules = os.path.join(tmp, "rules.tsv")
    with open(rules, "w") as f:
        # A tiny normalization table compiled into precompiled_charsmap: ligature fi, full-width A-C, NBSP, tab.
        f.write("FB01\t66 69\nFF21\t41\nFF22\t42\nFF23\t43\nA0\t20\n9\t20\n41 42 43\t61 62 63\n")
    common = ["--input=" + text, "--num_threads=1", "--minloglevel=2", "--character_coverage=1.0"]
    subprocess.run(["spm_train", *common, "--model_prefix=" + os.path.join(RESOURCES, "bpe-bytefallback"),
                    "--model_type=bpe", "--byte_fallback=true", "--vocab_size=420",
                    "--normalization_rule_name=identity", "--remove_extra_whitespaces=false",
                    "--user_defined_symbols=<sep>,@@", "--add_dummy_prefix=true"], check=True)
    subprocess.run(["spm_train", *common, "--model_prefix=" + os.path.join(RESOURCES, "unigram-rules"),
                    "--model_type=unigram", "--vocab_size=150", "--normalization_rule_tsv=" + rules,
                    "--user_defined_symbols=@@"], check=True)
    for name in ("bpe-bytefallback", "unigram-rules"):
        os.remove(os.path.join(RESOURCES, name + ".vocab"))


def decode_cases(sp):
    """Id sequences for decoding: byte pieces split, broken and mixed with control and normal pieces."""
    b = lambda x: sp.piece_to_id("<0x%02X>" % x)
    seqs = []
    if sp.piece_to_id("<0xE2>") != sp.unk_id():
        euro = [b(0xE2), b(0x82), b(0xAC)]
        seqs += [euro, [sp.bos_id()] + euro, euro[:2], euro[:2] + [sp.piece_to_id("\u2581a")], [b(0x80)],
                 [b(0xF0), b(0x9F), b(0xA6), b(0x99)], [b(0xF0), b(0x9F), b(0xA6)], [b(0x20)] + euro,
                 [b(0xC0), b(0xAF)], [b(0xED), b(0xA0), b(0x80)], euro + [sp.eos_id()] + euro]
    w = sp.piece_to_id("\u2581")
    seqs += [[sp.bos_id(), w, sp.piece_to_id("\u2581a")], [w, w], [sp.unk_id(), sp.unk_id()],
             [sp.bos_id(), sp.eos_id(), sp.piece_to_id("\u2581the")], [sp.piece_to_id("\u2581the"), sp.bos_id(), sp.piece_to_id("\u2581the")]]
    return [s for s in seqs if all(0 <= i < sp.get_piece_size() for i in s)]


def fixture(model_file, out_name, source):
    sp = spm.SentencePieceProcessor(model_file=model_file)
    encode = []
    for text in cases():
        ids = sp.encode(text)
        encode.append({"text": text, "ids": ids, "decoded": sp.decode(ids)})
    decode = [{"ids": s, "text": sp.decode(s)} for s in decode_cases(sp)]
    doc = {"source": source, "reference": "python3-sentencepiece " + spm.__version__,
           "vocab_size": sp.get_piece_size(), "bos": sp.bos_id(), "eos": sp.eos_id(),
           "encode": encode, "decode": decode}
    with open(os.path.join(RESOURCES, out_name), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        train(tmp)
    fixture(os.path.join(RESOURCES, "bpe-bytefallback.model"), "bpe-bytefallback.expected.json", "bpe-bytefallback.model")
    fixture(os.path.join(RESOURCES, "unigram-rules.model"), "unigram-rules.expected.json", "unigram-rules.model")
    llama = os.path.join(SHARED, "data", "llama2-tokenizer", "tokenizer.model")
    if os.path.exists(llama):
        fixture(llama, "llama2.expected.json", "shared/data/llama2-tokenizer/tokenizer.model")
    else:
        print("no Llama 2 tokenizer at " + llama + "; llama2.expected.json not refreshed", file=sys.stderr)


if __name__ == "__main__":
    main()

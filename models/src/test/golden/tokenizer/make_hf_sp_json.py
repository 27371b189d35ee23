"""Converts the small SentencePiece BPE model (bpe-bytefallback.model) to Llama-2-style Hugging Face
tokenizer.json files the way transformers' LlamaConverter does (vocab from the pieces; merges from every split of
a piece into two vocabulary pieces, ordered by the merged piece's score), in the two layouts found on the Hub:
 - hf-spbpe.tokenizer.json: normalizer Prepend("▁") + Replace(" ", "▁"), decoder Replace/ByteFallback/Fuse/Strip;
 - hf-spbpe-metaspace.tokenizer.json: pre_tokenizer Metaspace(prepend_scheme "first", split false), decoder Metaspace.
Run with /usr/bin/python3 from this directory, then make_hf_fixtures.js for the expected ids."""
import json
import os

import sentencepiece as spm

from sp_cases import RESOURCES


def convert(model_file):
    sp = spm.SentencePieceProcessor(model_file=model_file)
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    scores = {sp.id_to_piece(i): sp.get_score(i) for i in range(sp.get_piece_size())}
    merges = []
    for piece, score in scores.items():
        local = [(piece[:k], piece[k:], score) for k in range(1, len(piece)) if piece[:k] in vocab and piece[k:] in vocab]
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2], reverse=True)
    special = [{"id": i, "content": sp.id_to_piece(i), "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True} for i in (sp.unk_id(), sp.bos_id(), sp.eos_id())]
    model = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "vocab": vocab,
             "merges": [a + " " + b for a, b, _ in merges]}
    post = {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [sp.bos_id()], "tokens": ["<s>"]}}}
    legacy = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
              "normalizer": {"type": "Sequence", "normalizers": [
                  {"type": "Prepend", "prepend": "\u2581"},
                  {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
              "pre_tokenizer": None, "post_processor": post,
              "decoder": {"type": "Sequence", "decoders": [
                  {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                  {"type": "ByteFallback"}, {"type": "Fuse"},
                  {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
              "model": model}
    metaspace = dict(legacy)
    metaspace["normalizer"] = None
    # add_prefix_space as well as prepend_scheme, as tokenizers 0.14-0.19 wrote them (transformers.js reads the former).
    metaspace["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True,
                                  "prepend_scheme": "first", "split": False}
    metaspace["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True, "prepend_scheme": "first", "split": False},
        {"type": "ByteFallback"}, {"type": "Fuse"}]}
    return legacy, metaspace


def main():
    legacy, metaspace = convert(os.path.join(RESOURCES, "bpe-bytefallback.model"))
    for name, doc in (("hf-spbpe.tokenizer.json", legacy), ("hf-spbpe-metaspace.tokenizer.json", metaspace)):
        with open(os.path.join(RESOURCES, name), "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")


if __name__ == "__main__":
    main()

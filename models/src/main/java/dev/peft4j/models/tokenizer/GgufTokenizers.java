package dev.peft4j.models.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.api.UserException;
import dev.peft4j.models.io.GgufFile;
import dev.peft4j.models.io.GgufFile.Value;
import dev.peft4j.models.io.GgufFile.ValueType;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The tokenizer stored in a GGUF file ({@code tokenizer.ggml.*}), read into peft4j's tokenizers and written
 * from them:
 * <ul>
 *   <li>{@code tokenizer.ggml.model = "llama"}: a SentencePiece BPE vocabulary (LLaMA 1/2): {@code tokens},
 *       {@code scores}, {@code token_type} (SentencePiece's piece types: 1 normal, 2 unknown, 3 control,
 *       4 user-defined, 5 unused, 6 byte), {@code add_space_prefix}; becomes a {@link SentencePieceTokenizer}.</li>
 *   <li>{@code "gpt2"}: byte-level BPE (LLaMA 3): {@code tokens} (in GPT-2's byte-mapped form),
 *       {@code token_type}, {@code merges} ("a b", by rank), {@code pre} (the pre-tokenizer:
 *       "llama-bpe", or "gpt2"/"default"); becomes an {@link HfTokenizer}, control and user-defined tokens
 *       as its added tokens.</li>
 * </ul>
 * BOS/EOS/UNK ids come from {@code bos_token_id}, {@code eos_token_id}, {@code unknown_token_id}
 * (LLaMA's 1, 2 and 0 when absent).
 */
public final class GgufTokenizers {
    private GgufTokenizers() {}

    static final String P = "tokenizer.ggml.";

    /** Whether the file stores a tokenizer. */
    public static boolean has(GgufFile g) {
        return g.has(P + "model");
    }

    /** The tokenizer stored in {@code g}. */
    public static Tokenizer read(GgufFile g) {
        String model = g.string(P + "model", null);
        String[] tokens = (String[]) g.array(P + "tokens", ValueType.STRING, true).value();
        if (tokens.length == 0) throw g.bad(P + "tokens", "the vocabulary is empty");
        int[] types = tokenTypes(g, tokens.length);
        int bos = id(g, "bos_token_id", 1, tokens.length);
        int eos = id(g, "eos_token_id", 2, tokens.length);
        String name = g.file().toString();
        return switch (model) {
            case "llama" -> llama(g, name, tokens, types, bos, eos);
            case "gpt2" -> gpt2(g, name, tokens, types, bos, eos);
            default -> throw g.bad(P + "model", "tokenizer \"" + model + "\" is not supported (only \"llama\" and \"gpt2\")");
        };
    }

    private static int[] tokenTypes(GgufFile g, int n) {
        Value v = g.array(P + "token_type", null, false);
        int[] types = new int[n];
        if (v == null) {
            java.util.Arrays.fill(types, SentencePieceModel.NORMAL);
            return types;
        }
        if (!(v.value() instanceof long[] l)) throw g.bad(P + "token_type", "must be an integer array, got " + v);
        if (l.length != n) throw g.bad(P + "token_type", l.length + " entries for " + n + " tokens");
        for (int i = 0; i < n; i++) {
            if (l[i] < SentencePieceModel.NORMAL || l[i] > SentencePieceModel.BYTE) throw g.bad(P + "token_type", "token " + i + " has type " + l[i] + " (1 to 6)");
            types[i] = (int) l[i];
        }
        return types;
    }

    private static int id(GgufFile g, String key, int dflt, int n) {
        long id = g.integer(P + key, (long) dflt);
        if (id < 0 || id >= n) throw g.bad(P + key, id + " is outside the vocabulary of " + n + " tokens");
        return (int) id;
    }

    private static Tokenizer llama(GgufFile g, String name, String[] tokens, int[] types, int bos, int eos) {
        int n = tokens.length;
        float[] scores = new float[n];
        Value s = g.array(P + "scores", ValueType.FLOAT32, false);
        if (s != null) {
            float[] f = (float[]) s.value();
            if (f.length != n) throw g.bad(P + "scores", f.length + " scores for " + n + " tokens");
            scores = f;
        }
        byte[] ty = new byte[n];
        int unk = -1;
        boolean bytes = false;
        for (int i = 0; i < n; i++) {
            ty[i] = (byte) types[i];
            if (types[i] == SentencePieceModel.UNKNOWN && unk < 0) unk = i;
            bytes |= types[i] == SentencePieceModel.BYTE;
        }
        if (g.has(P + "unknown_token_id")) unk = id(g, "unknown_token_id", 0, n);
        if (unk < 0) throw g.bad(P + "token_type", "no token has type 2 (unknown) and unknown_token_id is not set");
        byte[] charsmap = new byte[0];
        Value cm = g.array(P + "precompiled_charsmap", null, false);
        if (cm != null && cm.value() instanceof long[] l && l.length > 0) {
            charsmap = new byte[l.length];
            for (int i = 0; i < l.length; i++) charsmap[i] = (byte) l[i];
        }
        SentencePieceModel m = new SentencePieceModel(tokens, scores, ty, SentencePieceModel.BPE, bytes, false,
                tokens[unk], tokens[bos], tokens[eos], " \u2047 ", charsmap.length == 0 ? "identity" : "gguf", charsmap,
                g.bool(P + "add_space_prefix", true), g.bool(P + "remove_extra_whitespaces", false), true);
        return new SentencePieceTokenizer(m, name);
    }

    private static Tokenizer gpt2(GgufFile g, String name, String[] tokens, int[] types, int bos, int eos) {
        String pre = g.string(P + "pre", "default");
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        ObjectNode vocab = model.putObject("vocab");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < tokens.length; i++) {
            if (types[i] == SentencePieceModel.CONTROL || types[i] == SentencePieceModel.USER_DEFINED) {
                added.addObject().put("id", i).put("content", tokens[i]).put("special", types[i] == SentencePieceModel.CONTROL);
            } else {
                vocab.put(tokens[i], i);
            }
        }
        ArrayNode merges = model.putArray("merges");
        for (String m : (String[]) g.array(P + "merges", ValueType.STRING, true).value()) merges.add(m);
        ObjectNode preTok = root.putObject("pre_tokenizer");
        switch (pre) {
            case "llama-bpe", "llama3", "llama-v3" -> {
                model.put("ignore_merges", true);
                preTok.put("type", "Sequence");
                ArrayNode seq = preTok.putArray("pretokenizers");
                ObjectNode split = seq.addObject().put("type", "Split").put("behavior", "Isolated").put("invert", false);
                split.putObject("pattern").put("Regex", HfTokenizer.LLAMA3_SPLIT);
                seq.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("use_regex", false);
            }
            case "default", "gpt2" -> preTok.put("type", "ByteLevel").put("add_prefix_space", false).put("use_regex", true);
            default -> throw g.bad(P + "pre", "pre-tokenizer \"" + pre + "\" is not supported (llama-bpe, gpt2 or default)");
        }
        root.putObject("decoder").put("type", "ByteLevel");
        try {
            return new HfTokenizer(root, name, bos, eos);
        } catch (UserException e) {
            throw new UserException("GGUF file " + g.file() + ": tokenizer.ggml.*: " + e.getMessage().replace(name + ": ", ""), e);
        }
    }

    /**
     * The {@code tokenizer.ggml.*} metadata that stores {@code t} (see the class comment), in the order
     * llama.cpp's converter writes it.
     *
     * @throws UserException when {@code t} has no GGUF form (a unigram SentencePiece model, a tokenizer.json
     *                       that is not byte-level BPE of LLaMA 3 or GPT-2, the byte tokenizer)
     */
    public static Map<String, Value> metadata(Tokenizer t) {
        Map<String, Value> m = new LinkedHashMap<>();
        if (t instanceof SentencePieceTokenizer sp) {
            SentencePieceModel model = sp.model();
            if (model.modelType() != SentencePieceModel.BPE) {
                throw new UserException("tokenizer " + sp + ": only SentencePiece BPE models can be stored in GGUF (llama.cpp's \"llama\" tokenizer)");
            }
            int n = model.pieces().length;
            long[] types = new long[n];
            for (int i = 0; i < n; i++) types[i] = model.types()[i];
            m.put(P + "model", Value.of(ValueType.STRING, "llama"));
            m.put(P + "pre", Value.of(ValueType.STRING, "default"));
            m.put(P + "tokens", Value.array(ValueType.STRING, model.pieces().clone()));
            m.put(P + "scores", Value.array(ValueType.FLOAT32, model.scores().clone()));
            m.put(P + "token_type", Value.array(ValueType.INT32, types));
            putIds(m, sp.bos(), sp.eos());
            m.put(P + "unknown_token_id", Value.of(ValueType.UINT32, (long) sp.unkId()));
            m.put(P + "add_bos_token", Value.of(ValueType.BOOL, true));
            m.put(P + "add_eos_token", Value.of(ValueType.BOOL, false));
            m.put(P + "add_space_prefix", Value.of(ValueType.BOOL, model.addDummyPrefix()));
            if (model.removeExtraWhitespaces()) m.put(P + "remove_extra_whitespaces", Value.of(ValueType.BOOL, true));
            if (model.charsmap().length > 0) {
                long[] cm = new long[model.charsmap().length];
                for (int i = 0; i < cm.length; i++) cm[i] = model.charsmap()[i] & 0xFF;
                m.put(P + "precompiled_charsmap", Value.array(ValueType.UINT8, cm));
            }
            return m;
        }
        if (t instanceof HfTokenizer hf) {
            HfTokenizer.BpeVocabulary v = hf.bpeVocabulary();
            if (v.pre() == null) {
                throw new UserException("tokenizer " + hf + ": only byte-level BPE tokenizers (LLaMA 3's or GPT-2's pre-tokenizer) can be stored in GGUF");
            }
            long[] types = new long[v.types().length];
            for (int i = 0; i < types.length; i++) types[i] = v.types()[i];
            m.put(P + "model", Value.of(ValueType.STRING, "gpt2"));
            m.put(P + "pre", Value.of(ValueType.STRING, v.pre()));
            m.put(P + "tokens", Value.array(ValueType.STRING, v.tokens()));
            m.put(P + "token_type", Value.array(ValueType.INT32, types));
            m.put(P + "merges", Value.array(ValueType.STRING, v.merges()));
            putIds(m, hf.bos(), hf.eos());
            m.put(P + "add_bos_token", Value.of(ValueType.BOOL, hf.bos() >= 0));
            return m;
        }
        throw new UserException("tokenizer " + t + " cannot be stored in GGUF (only SentencePiece BPE and byte-level BPE tokenizers)");
    }

    private static void putIds(Map<String, Value> m, int bos, int eos) {
        if (bos >= 0) m.put(P + "bos_token_id", Value.of(ValueType.UINT32, (long) bos));
        if (eos >= 0) m.put(P + "eos_token_id", Value.of(ValueType.UINT32, (long) eos));
    }
}

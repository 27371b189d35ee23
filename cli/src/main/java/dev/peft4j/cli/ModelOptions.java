package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.kernels.quant.GgmlType;
import dev.peft4j.kernels.quant.Quantize;
import dev.peft4j.models.DefaultModel;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.io.GgufFile;
import dev.peft4j.models.tokenizer.GgufTokenizers;
import dev.peft4j.models.tokenizer.ByteTokenizer;
import dev.peft4j.models.tokenizer.Tokenizer;
import dev.peft4j.models.tokenizer.Tokenizers;
import dev.peft4j.models.peft.AdapterFiles;
import dev.peft4j.models.peft.PeftMethods;
import dev.peft4j.models.peft.PeftModel;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --model} and {@code --tokenizer}, shared by the commands that run a model. */
final class ModelOptions {
    @Option(names = "--model", paramLabel = "PATH",
            description = "GGUF file, llama2.c .bin file or Hugging Face directory (config.json + safetensors). Default: the embedded model.")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "PATH",
            description = "tokenizer.model, tokenizer.bin, tokenizer.json, a .gguf, or 'byte' (one token per UTF-8 byte). Default: the one inside a GGUF model, else the one beside the model.")
    Path tokenizer;

    /** Marks a model directory whose tokenizer is the byte tokenizer (it has no file of its own). */
    static final String BYTE_MARKER = "tokenizer.byte";

    /** A tokenizer by path, or the byte tokenizer for "byte" or a {@value #BYTE_MARKER} marker. */
    static Tokenizer tokenizer(Path path) {
        if (path.toString().equals("byte") || path.getFileName().toString().equals(BYTE_MARKER)) return new ByteTokenizer();
        return Tokenizers.load(path);
    }

    @Option(names = "--adapter", paramLabel = "DIR",
            description = "An adapter directory (peft4j's or Hugging Face PEFT's), or one holding several; repeatable.")
    List<Path> adapters = new ArrayList<>();

    @Option(names = "--merge", description = "Merge the adapters into the base weights (LoRA) instead of running them beside it.")
    boolean merge;

    @Option(names = "--plugins", paramLabel = "DIR", description = "Also load PEFT method plugins from the jars in DIR.")
    Path plugins;

    @Option(names = "--base-dtype", defaultValue = "keep", paramLabel = "keep|f32|bf16|f16|q8_0|q4_0",
            description = "The frozen base's weights in memory: keep (as stored: F32, BF16, F16, Q8_0, Q4_0, Q4_K, Q6_K) or converted on load "
                    + "(default: ${DEFAULT-VALUE}). Trainable tensors are float32 either way.")
    String baseDtype = "keep";

    /** The type --base-dtype names, or null for keep. */
    static GgmlType baseType(String value) {
        String v = value.toLowerCase(java.util.Locale.ROOT);
        if (v.equals("keep")) return null;
        GgmlType t = GgmlType.ofName(v);
        if (t == null || !Quantize.supports(t) && t != GgmlType.F32) {
            throw new UserException("--base-dtype: unknown type '" + value + "' (expected keep, f32, bf16, f16, q8_0 or q4_0)");
        }
        return t;
    }

    /** w with its linears and embedding converted as --base-dtype asks. */
    private LlamaWeights withBaseType(LlamaWeights w) {
        GgmlType t = baseType(baseDtype);
        return t == null ? w : w.convertBase(t);
    }

    /** A loaded model, its tokenizer and its installed adapters. */
    record Loaded(String name, LlamaWeights weights, Tokenizer tokenizer, PeftModel peft) {}

    PeftMethods methods() {
        return PeftMethods.discover(plugins);
    }

    private Loaded withAdapters(String name, LlamaWeights w, Tokenizer tok) {
        PeftModel peft = new PeftModel(w, 0);
        if (!adapters.isEmpty()) {
            PeftMethods methods = methods();
            for (Path dir : adapters) AdapterFiles.load(peft, dir, methods);
            if (merge) {
                for (PeftModel.Installed i : peft.adapters().values()) {
                    if (!i.adapter().canMerge()) throw new UserException("--merge: adapter '" + i.name() + "' (" + i.method().name() + ") cannot be merged");
                    i.adapter().merge();
                }
            }
        } else if (merge) {
            throw new UserException("--merge needs --adapter");
        }
        return new Loaded(name, w, tok, peft);
    }

    Loaded load() {
        return load(true);
    }

    /** Loads the model (and, when {@code needTokenizer}, its tokenizer; otherwise it may be null). */
    Loaded load(boolean needTokenizer) {
        if (model == null) {
            Tokenizer tok = tokenizer == null ? new ByteTokenizer() : tokenizer(tokenizer);
            checkVocab(tok, DefaultModel.config().vocabSize(), "the embedded model");
            return withAdapters("embedded default model (random weights)", withBaseType(DefaultModel.weights()), tok);
        }
        if (!Files.exists(model)) throw new UserException("--model: " + model + " does not exist");
        LlamaWeights w = withBaseType(Checkpoints.load(model));
        Path tokPath = tokenizer != null ? tokenizer : findTokenizerBeside(model);
        if (tokPath == null && !needTokenizer) return withAdapters(model.toString(), w, null);
        if (tokPath == null) {
            throw new UserException("no tokenizer found beside " + model
                    + " (looked inside a GGUF file, then for tokenizer.model, tokenizer.json, tokenizer.bin): pass --tokenizer PATH");
        }
        Tokenizer tok = tokenizer(tokPath);
        checkVocab(tok, w.config.vocabSize(), model.toString());
        return withAdapters(model.toString(), w, tok);
    }

    private static void checkVocab(Tokenizer tok, int modelVocab, String model) {
        if (tok.vocabSize() > modelVocab) {
            throw new UserException("the tokenizer has " + tok.vocabSize() + " tokens but " + model + " has a vocabulary of "
                    + modelVocab + ": they do not belong together");
        }
    }

    /** The tokenizer of a model: the GGUF file itself when it stores one, else a tokenizer file beside it; null if none. */
    static Path findTokenizerBeside(Path model) {
        if (Files.isRegularFile(model) && GgufFile.isGguf(model)) {
            try (GgufFile g = GgufFile.open(model)) {
                if (GgufTokenizers.has(g)) return model;
            }
        }
        Path dir = Files.isDirectory(model) ? model : model.toAbsolutePath().getParent();
        if (dir == null) return null;
        for (String name : new String[]{"tokenizer.model", "tokenizer.json", "tokenizer.bin", BYTE_MARKER}) {
            Path p = dir.resolve(name);
            if (Files.isRegularFile(p)) return p;
        }
        return null;
    }
}

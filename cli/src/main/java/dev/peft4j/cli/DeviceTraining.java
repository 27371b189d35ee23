package dev.peft4j.cli;

import dev.peft4j.api.Parameter;
import dev.peft4j.kernels.DeviceStep;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaModel;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.peft.PeftModel;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Optional;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The TornadoVM training step for a {@link PeftModel}: what its methods ask of the device step (LoRA's rank,
 * scaling and linears, the LLaMA-Adapter's prompt length and first layer, the prefix length), read from the
 * installed methods' configs (as the JSON they save, Hugging Face PEFT's fields: the CLI does not link against
 * the plugins) and parameters; the frozen base weights, which the bridge packs per kind. The device step has
 * its own forms of LoRA on the seven linears of every layer and on lm_head, LLaMA-Adapter and prefix tuning (a plain table
 * or through its MLP);
 * anything else is refused here with the reason, before anything is uploaded.
 */
final class DeviceTraining {
    private static final Pattern LORA = Pattern.compile("\\.layers\\.(\\d+)\\.(?:self_attn|mlp)\\.(\\w+_proj)\\.lora_A\\.weight$");
    private static final Pattern ADAPTER = Pattern.compile("\\.layers\\.(\\d+)\\.self_attn\\.adaption_prompt$");

    private static final ObjectMapper JSON = new ObjectMapper();

    private DeviceTraining() {}

    private static JsonNode config(PeftModel.Installed i) {
        return JSON.valueToTree(i.adapter().config());
    }

    /**
     * The device {@code --device} asks for this model ({@link TornadoDevice#choose}; empty: the CPU), where {@code auto}
     * also falls back to the CPU, saying why on {@code out} (null: quietly), when the composition has no device form.
     */
    static Optional<TornadoDevice> choose(String spec, PeftModel peft, PrintWriter out) {
        Optional<TornadoDevice> chosen = TornadoDevice.choose(spec, out);
        String why = chosen.isPresent() && spec.equals("auto") ? unsupported(peft) : null;
        if (why == null) return chosen;
        if (out != null) out.println("device: auto -> cpu (" + why + " has no device form)");
        return Optional.empty();
    }

    /** Why this model's methods cannot train on the device step, or null when they can. */
    static String unsupported(PeftModel peft) {
        java.util.Set<dev.peft4j.kernels.quant.GgmlType> types = peft.base().storedTypes();
        types.remove(dev.peft4j.kernels.quant.GgmlType.F32);
        if (!types.isEmpty()) {
            return "a base stored as " + types + " (the device step reads float32 weights only: load with --base-dtype f32)";
        }
        int loras = 0;
        for (PeftModel.Installed i : peft.adapters().values()) {
            if (!i.active()) continue;
            String method = i.method().name();
            switch (method) {
                case "lora" -> {
                    loras++;
                    double dropout = config(i).path("lora_dropout").asDouble();
                    if (dropout > 0) return "LoRA with lora_dropout " + dropout + " (the device step has no dropout; use 0)";
                    JsonNode lc = config(i);
                    if (lc.path("use_dora").asBoolean()) return "LoRA as DoRA (use_dora; the device step has plain LoRA)";
                    if (!lc.path("rank_pattern").isEmpty() || !lc.path("alpha_pattern").isEmpty()) {
                        return "LoRA with rank_pattern or alpha_pattern (the device step has one rank and one scaling)";
                    }
                }
                case "llama-adapter" -> {
                    // the device step packs one gate per head (and gives each its own AdamW moments)
                    if (!config(i).path("gate").asText("layer").equals("head")) {
                        return "LLaMA-Adapter with one gate per layer (the device step has the per-head gate only: --adapter-gate head)";
                    }
                }
                case "prefix" -> { }
                default -> {
                    return "method '" + method + "' (the device step has forms of lora, prefix and llama-adapter only)";
                }
            }
        }
        if (loras > 1) return "several LoRA adapters at once (the device step trains one)";
        return null;
    }

    /**
     * Opens the device step for training this model on micro-batches of batch × seq tokens; the caller hands it
     * to {@link dev.peft4j.models.train.TrainingRun#onDevice}, which checks that it holds exactly the model's
     * trainable parameters (LoRA on some layers only fails there) and writes their values.
     */
    static DeviceStep open(TornadoDevice device, PeftModel peft, int batch, int seq) {
        String why = unsupported(peft);
        if (why != null) throw new dev.peft4j.api.UserException("--device: " + why + " has no device form; use --device cpu");
        LlamaWeights base = peft.base();
        LlamaConfig c = base.config;
        int rank = 0, adapterLen = 0, adapterStart = Integer.MAX_VALUE, prefixLen = 0, prefixHidden = 0;
        float scaling = 0;
        TreeSet<String> modules = new TreeSet<>();
        for (PeftModel.Installed i : peft.adapters().values()) {
            if (i.active() && i.method().name().equals("lora")) {
                JsonNode lc = config(i);
                rank = lc.path("r").asInt();
                double alpha = lc.path("lora_alpha").asDouble();
                // PEFT's scaling: alpha / r, or alpha / sqrt(r) with rsLoRA
                scaling = (float) (lc.path("use_rslora").asBoolean() ? alpha / Math.sqrt(rank) : alpha / rank);
            }
        }
        for (Parameter p : peft.trainableParameters()) {
            Matcher m = LORA.matcher(p.name());
            if (m.find()) modules.add(m.group(2));
            if (p.name().equals("base_model.model.lm_head.lora_A.weight")) modules.add("lm_head");
            m = ADAPTER.matcher(p.name());
            if (m.find()) {
                adapterLen = p.shape()[1]; // [1][len][dim]
                adapterStart = Math.min(adapterStart, Integer.parseInt(m.group(1)));
            }
            if (p.name().equals("prompt_embeddings") || p.name().equals("prompt_encoder.embedding.weight")) prefixLen = p.shape()[0];
            if (p.name().equals("prompt_encoder.transform.0.weight")) prefixHidden = p.shape()[0]; // [enc][kvDim]
        }
        int[] shape = {c.dim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.hiddenDim(), c.vocabSize(), batch, seq};
        float[] head = base.classifier == base.tokenEmbedding ? base.classifier.f32().clone() : base.classifier.f32(); // an array once per task
        float[][][] layers = {base.attnNorm, LlamaWeights.f32(base.wq), LlamaWeights.f32(base.wk), LlamaWeights.f32(base.wv), LlamaWeights.f32(base.wo),
                base.ffnNorm, LlamaWeights.f32(base.wGate), LlamaWeights.f32(base.wUp), LlamaWeights.f32(base.wDown)};
        return device.openTrainer(shape, c.normEps(), LlamaModel.inverseFrequencies(c), rank, scaling, new ArrayList<>(modules),
                adapterLen, adapterLen == 0 ? 0 : adapterStart, prefixLen, prefixHidden,
                base.tokenEmbedding.f32(), layers, base.finalNorm, head);
    }
}

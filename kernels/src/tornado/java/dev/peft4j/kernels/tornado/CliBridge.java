package dev.peft4j.kernels.tornado;

import dev.peft4j.kernels.DeviceStep;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;

/**
 * The TornadoVM backend as the CLI sees it, in JDK types only: the CLI finds this class by name
 * (it exists only in builds made with the {@code tornado} profile) and so never links against
 * TornadoVM or this package.
 */
public final class CliBridge {
    private CliBridge() {}

    /** Null when TornadoVM can run here; otherwise why not. */
    public static String unavailableReason() {
        return TornadoBackend.unavailableReason().map(r -> r.replaceFirst("^TornadoVM is not available: ", "")).orElse(null);
    }

    /** "backend / platform / device" of the index-th device; IllegalArgumentException naming the range. */
    public static String describe(int device) {
        return TornadoBackend.describe(TornadoBackend.device(device));
    }

    /**
     * Opens a training step ({@link LoraStep#forTraining}) for a run: LoRA of the given rank and scaling on the named
     * linears of every layer ({@code q_proj} ... {@code down_proj}) and on {@code lm_head} (none: no LoRA), a LLaMA-Adapter of adapterLen
     * prompt rows from adapterStart (adapterLen 0: none) and prefix tuning of prefixLen rows (0: none), through an MLP of
     * prefixHidden (0: a plain table).
     *
     * @param shape  dim, layers, heads, kvHeads, hidden, vocab, batch, seq
     * @param embed  the token embedding [vocab][dim]
     * @param layers the per-layer base weights [kind][layer][...], nn.Linear layout, kinds in the order attnNorm, wq,
     *               wk, wv, wo, ffnNorm, wGate, wUp, wDown (packed here, {@link LoraStep.Weights#pack})
     * @param head   the classifier [vocab][dim], not the embedding's array (a task takes an array once)
     * @param device the TornadoVM device index; -1 runs the device form as plain Java (a check)
     */
    public static DeviceStep openTrainer(int[] shape, float eps, double[] invFreq, int rank, float scaling, List<String> loraModules,
                                         int adapterLen, int adapterStart, int prefixLen, int prefixHidden,
                                         float[] embed, float[][][] layers, float[] finalNorm, float[] head, int device) {
        if (shape.length != 8) throw new IllegalArgumentException("shape has 8 numbers, got " + shape.length);
        if (layers.length != 9) throw new IllegalArgumentException("9 kinds of per-layer weights, got " + layers.length);
        LoraStep.Shape s = new LoraStep.Shape(shape[0], shape[1], shape[2], shape[3], shape[4], shape[5], shape[6], shape[7],
                Math.max(1, rank), scaling * Math.max(1, rank), eps, 10000);
        EnumSet<LoraStep.Site> sites = EnumSet.noneOf(LoraStep.Site.class);
        boolean headLora = false;
        for (String module : loraModules) {
            if (module.equals("lm_head")) {
                headLora = true;
                continue;
            }
            try {
                sites.add(LoraStep.Site.valueOf(module.replaceFirst("_proj$", "").toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("LoRA on " + module + " has no device form (q_proj ... down_proj and lm_head do)");
            }
        }
        float[][] packed = new float[layers.length][];
        for (int k = 0; k < layers.length; k++) packed[k] = LoraStep.Weights.pack(layers[k]);
        LoraStep.Weights w = new LoraStep.Weights(embed, packed[0], packed[1], packed[2], packed[3], packed[4], packed[5],
                packed[6], packed[7], packed[8], finalNorm, head);
        return LoraStep.forTraining(s, w, sites, headLora, adapterLen > 0 ? new LoraStep.LlamaAdapter(adapterLen, adapterStart) : null,
                prefixLen > 0 ? new LoraStep.Prefix(prefixLen, prefixHidden) : null, invFreq, device < 0 ? null : TornadoBackend.device(device));
    }
}

package dev.peft4j.models.peft;

import dev.peft4j.api.LinearMapHook;
import dev.peft4j.api.LinearSite;
import dev.peft4j.api.Pass;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The buffers and the order of the {@link LinearMapHook}s around a model's linear layers, for one trainer or one
 * generation state: the values between maps are kept for the backward (so a map keeps nothing), per layer, or one
 * layer's worth when the layers' activations are recomputed. A site without maps costs two list reads.
 *
 * <pre>
 *   forward   x ─input maps→ x' ;  pre = x'·Wᵀ + Σ hooks(x') ;  pre ─output maps→ y
 *   backward  dy ─output maps ᵀ→ dPre ;  dx' = dPre·W + Σ hooks' ;  dx += input mapsᵀ(dx')
 * </pre>
 *
 * Buffers are allocated on a site's first use and reused after; not thread-safe (one per trainer or state).
 */
public final class LinearMaps {
    private static final int KINDS = LinearSite.Kind.values().length;

    private final Hooks hooks;
    private final boolean shareLayers;
    private final Map<Long, float[]> kept = new HashMap<>();   // (slot, role, index) -> [rows][width]
    private final float[][] scratch = new float[5][];          // gradients: [0..1] output ping-pong, [2] dx', [3..4] input ping-pong

    /** @param shareLayers whether every layer reuses one layer's buffers (activations recomputed before each layer's backward) */
    public LinearMaps(Hooks hooks, boolean shareLayers) {
        this.hooks = hooks;
        this.shareLayers = shareLayers;
    }

    private float[] kept(LinearSite site, int role, int index, int size) {
        long slot = shareLayers ? site.kind().ordinal() : (long) site.layer() * KINDS + site.kind().ordinal();
        float[] b = kept.get((slot * 2 + role) * 64 + index);
        if (b == null || b.length < size) {
            b = new float[size];
            kept.put((slot * 2 + role) * 64 + index, b);
        }
        return b;
    }

    private float[] scratch(int i, int size) {
        if (scratch[i] == null || scratch[i].length < size) scratch[i] = new float[size];
        Arrays.fill(scratch[i], 0, size, 0f);
        return scratch[i];
    }

    /** The input the base matmul reads: x itself without input maps, else the maps' output [n][width]. */
    public float[] input(LinearSite site, float[] x, int width, int n, Pass pass) {
        List<LinearMapHook> maps = hooks.inputMaps(site);
        float[] cur = x;
        for (int i = 0; i < maps.size(); i++) {
            float[] next = kept(site, 0, i, n * width);
            maps.get(i).forward(cur, next, n, pass);
            cur = next;
        }
        return cur;
    }

    /** The input the base matmul read in the latest {@link #input} call: x itself without input maps. */
    public float[] mappedInput(LinearSite site, float[] x, int width, int n) {
        int k = hooks.inputMaps(site).size();
        return k == 0 ? x : kept(site, 0, k - 1, n * width);
    }

    /** Where the base matmul and the additive hooks write: y itself without output maps, else a kept buffer [n][width]. */
    public float[] preOutput(LinearSite site, float[] y, int width, int n) {
        return hooks.outputMaps(site).isEmpty() ? y : kept(site, 1, 0, n * width);
    }

    /** Runs the output maps from {@link #preOutput}'s buffer into y [n][width] (nothing without output maps). */
    public void output(LinearSite site, float[] y, int width, int n, Pass pass) {
        List<LinearMapHook> maps = hooks.outputMaps(site);
        if (maps.isEmpty()) return;
        float[] cur = kept(site, 1, 0, n * width);
        for (int i = 0; i < maps.size(); i++) {
            float[] next = i + 1 == maps.size() ? y : kept(site, 1, i + 1, n * width);
            maps.get(i).forward(cur, next, n, pass);
            cur = next;
        }
    }

    /**
     * The gradient of the pre-map output, from dy [n][width]: dy itself without output maps, else a buffer valid until
     * the next call; the maps accumulate their parameters' gradients.
     */
    public float[] outputBackward(LinearSite site, float[] dy, int width, int n) {
        List<LinearMapHook> maps = hooks.outputMaps(site);
        float[] dOut = dy;
        for (int i = maps.size() - 1; i >= 0; i--) {
            float[] dIn = scratch(i % 2, n * width);
            maps.get(i).backward(kept(site, 1, i, n * width), dOut, dIn, n);
            dOut = dIn;
        }
        return dOut;
    }

    /** Where the base and the additive hooks add the gradient of their input: dx itself without input maps, else a zeroed buffer. */
    public float[] inputGradient(LinearSite site, float[] dx, int width, int n) {
        return hooks.inputMaps(site).isEmpty() ? dx : scratch(2, n * width);
    }

    /** dx [n][width] += the input maps' backward of {@link #inputGradient}'s buffer (nothing without input maps); x is the site's input. */
    public void inputBackward(LinearSite site, float[] x, float[] dMapped, float[] dx, int width, int n) {
        List<LinearMapHook> maps = hooks.inputMaps(site);
        float[] dOut = dMapped;
        for (int i = maps.size() - 1; i >= 0; i--) {
            float[] dIn = i == 0 ? dx : scratch(3 + i % 2, n * width);
            maps.get(i).backward(i == 0 ? x : kept(site, 0, i - 1, n * width), dOut, dIn, n);
            dOut = dIn;
        }
    }
}

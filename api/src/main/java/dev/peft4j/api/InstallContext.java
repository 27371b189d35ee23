package dev.peft4j.api;

import java.util.SplittableRandom;

/**
 * What a method sees of the model while installing: its shape, the hook sites, and the only way
 * to make a parameter trainable. The method never sees the model itself.
 */
public interface InstallContext {
    /** The base model's dimensions. */
    ModelShape model();

    /** Allocates, initialises and registers a new trainable parameter of this adapter. */
    Parameter trainable(ParamSpec spec);

    /** Makes a base tensor (by its Hugging Face name) trainable in place: full fine-tuning. */
    Parameter trainBaseTensor(String hfName);

    /** The Hugging Face names of the base model's tensors, in checkpoint order. */
    java.util.List<String> baseTensorNames();

    /**
     * A base linear weight [out][in] as float32, to merge into (or read as floats): a base stored in another
     * type (BF16, Q8_0, ...) is converted to float32 in place for good, so a method that only applies the
     * frozen projection uses {@link #baseLinear} instead.
     */
    float[] baseWeight(LinearSite site);

    /** The frozen base linear at {@code site}, applied in its stored type (no float32 copy): LLaMA-Adapter's k/v projections. */
    FrozenLinear baseLinear(LinearSite site);

    /** Adds a hook to a linear site; hooks at one site add up in registration order. */
    void addLinearHook(LinearSite site, LinearHook hook);

    /**
     * Maps a linear site's input before its base matmul and {@link LinearHook}s read it (IA³ on feed-forward
     * layers); maps at one site run in registration order. Not at {@link LinearSite.Kind#LM_HEAD}.
     */
    default void addLinearInputHook(LinearSite site, LinearMapHook hook) {
        throw new UnsupportedOperationException("this model has no linear input maps");
    }

    /**
     * Maps a linear site's output after its base matmul and {@link LinearHook}s have written it (IA³ on k_proj and
     * v_proj); maps at one site run in registration order. Not at {@link LinearSite.Kind#LM_HEAD}.
     */
    default void addLinearOutputHook(LinearSite site, LinearMapHook hook) {
        throw new UnsupportedOperationException("this model has no linear output maps");
    }

    /** Adds key/value rows before layer {@code layer}'s causal softmax (prefix tuning). */
    void addKvPrefixHook(int layer, KvPrefixHook hook);

    /** Adds a gated attention over the hook's own prompt at layer {@code layer} (LLaMA-Adapter). */
    void addGatedAttentionHook(int layer, GatedAttentionHook hook);

    /**
     * Whether the adapter is being restored from saved weights (which then replace every trainable value), so
     * that how fresh weights would start does not matter; false for a fresh adapter.
     */
    default boolean restoring() {
        return false;
    }

    /** A random stream for {@code purpose}, deterministic in the run's seed. */
    SplittableRandom random(String purpose);
}

package dev.peft4j.models;

/**
 * LLaMA 3.1 RoPE frequency scaling ("rope_type": "llama3" in Hugging Face's config.json).
 *
 * <p>Wavelengths longer than {@code originalMaxPositionEmbeddings / lowFreqFactor} are divided by
 * {@code factor}; those shorter than {@code originalMaxPositionEmbeddings / highFreqFactor} are
 * kept; in between the two are blended linearly.
 */
public record RopeScaling(float factor, float lowFreqFactor, float highFreqFactor, int originalMaxPositionEmbeddings) {
    public RopeScaling {
        if (!(factor > 0) || !(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor) || originalMaxPositionEmbeddings <= 0) {
            throw new IllegalArgumentException("invalid llama3 rope scaling: factor=" + factor + ", low_freq_factor=" + lowFreqFactor
                    + ", high_freq_factor=" + highFreqFactor + ", original_max_position_embeddings=" + originalMaxPositionEmbeddings);
        }
    }

    /** Scales one inverse frequency (radians per position). */
    public double scale(double invFreq) {
        double wavelen = 2 * Math.PI / invFreq;
        double lowFreqWavelen = originalMaxPositionEmbeddings / (double) lowFreqFactor;
        double highFreqWavelen = originalMaxPositionEmbeddings / (double) highFreqFactor;
        if (wavelen < highFreqWavelen) return invFreq;
        if (wavelen > lowFreqWavelen) return invFreq / factor;
        double smooth = (originalMaxPositionEmbeddings / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        return (1 - smooth) * invFreq / factor + smooth * invFreq;
    }
}

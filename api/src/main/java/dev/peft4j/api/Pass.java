package dev.peft4j.api;

/**
 * What a forward pass is for. {@code seed} is fixed per training micro-step and site, so a
 * recomputed forward (activation checkpointing) draws the same dropout masks as the first one.
 */
public record Pass(boolean training, long seed) {
    public static final Pass INFERENCE = new Pass(false, 0);
}

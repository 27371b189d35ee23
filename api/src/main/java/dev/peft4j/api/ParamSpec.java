package dev.peft4j.api;

import java.util.Arrays;

/**
 * A trainable parameter a method asks for: its saved name, shape and initialisation rule. The
 * install context allocates it and fills it deterministically from the run's seed and the name.
 */
public record ParamSpec(String name, int[] shape, Init init) {
    public ParamSpec {
        shape = shape.clone();
        for (int s : shape) if (s <= 0) throw new IllegalArgumentException(name + ": bad shape " + Arrays.toString(shape));
    }

    public int size() {
        int n = 1;
        for (int s : shape) n = Math.multiplyExact(n, s);
        return n;
    }

    /** How a parameter's values start. */
    public sealed interface Init {
        /** All zeros (LoRA's B, LLaMA-Adapter's gates). */
        record Zeros() implements Init {}

        /** One value everywhere. */
        record Constant(float value) implements Init {}

        /** N(0, std²). */
        record Normal(double std) implements Init {}

        /** U(−bound, bound). */
        record Uniform(double bound) implements Init {}

        /**
         * PyTorch's kaiming_uniform_ with negative slope {@code a} over fan_in = the last dimension:
         * bound = sqrt(6 / ((1 + a²) · fan_in)) (nn.Linear's default uses a = sqrt(5)).
         */
        record KaimingUniform(double a) implements Init {}
    }

    public static Init zeros() { return new Init.Zeros(); }
    public static Init normal(double std) { return new Init.Normal(std); }
    public static Init kaimingUniform(double a) { return new Init.KaimingUniform(a); }
}

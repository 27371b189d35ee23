package dev.peft4j.kernels.tornado;

import java.util.Arrays;
import java.util.function.ToDoubleBiFunction;
import uk.ac.manchester.tornado.api.common.TornadoDevice;

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
     * Opens a LoRA step (q and v) on a random model on the index-th device. shape is dim, layers,
     * heads, kvHeads, hidden, vocab, batch, seq, rank. The result is AutoCloseable and maps (tokens,
     * targets) [batch·seq] to the step's mean loss, unmasked, at learning rate lr.
     */
    public static AutoCloseable openLora(int[] shape, float alpha, float lr, long seed, int device) {
        LoraStep.Shape s = new LoraStep.Shape(shape[0], shape[1], shape[2], shape[3], shape[4], shape[5], shape[6], shape[7],
                shape[8], alpha, 1e-5f, 10000);
        TornadoDevice d = TornadoBackend.device(device);
        return new Session(LoraStep.onDevice(s, LoraStep.Weights.random(s, seed), seed + 1, d), s.n(), lr);
    }

    private record Session(LoraStep step, int n, float lr) implements AutoCloseable, ToDoubleBiFunction<int[], int[]> {
        @Override
        public double applyAsDouble(int[] tokens, int[] targets) {
            float[] weights = new float[n];
            Arrays.fill(weights, 1f);
            return step.step(tokens, targets, weights, lr);
        }

        @Override
        public void close() {
            step.close();
        }
    }
}

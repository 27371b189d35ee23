package dev.peft4j.models.train;

import dev.peft4j.api.Parameter;
import dev.peft4j.api.UserException;
import dev.peft4j.kernels.AdamW;
import dev.peft4j.kernels.DeviceStep;
import dev.peft4j.kernels.Threads;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * AdamW over a list of parameters, with clipping by the global gradient norm and averaging over
 * accumulated micro-batches. State (m, v, step) can be saved and restored for resuming.
 */
public final class AdamWOptimizer {
    private final List<Parameter> params;
    private final float beta1, beta2, eps, weightDecay;
    private final double maxGradNorm;
    private final float[][] m, v; // [param][size]
    private int step;

    /** @param maxGradNorm clip the global gradient norm to this (0: no clipping) */
    public AdamWOptimizer(List<Parameter> params, float beta1, float beta2, float eps, float weightDecay, double maxGradNorm) {
        this.params = List.copyOf(params);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.maxGradNorm = maxGradNorm;
        m = new float[this.params.size()][];
        v = new float[this.params.size()][];
        for (int i = 0; i < m.length; i++) {
            m[i] = new float[this.params.get(i).size()];
            v[i] = new float[this.params.get(i).size()];
        }
    }

    /** Global L2 norm of the gradients times {@code scale} (summed in double, in a fixed order). */
    public double gradNorm(float scale) {
        double ss = 0;
        for (Parameter p : params) ss += AdamW.sumOfSquares(p.grad(), 0, p.size());
        return Math.sqrt(ss) * scale;
    }

    /**
     * One update with learning rate {@code lr}. Gradients are first divided by {@code microBatches}
     * (accumulation), then clipped; returns the gradient norm before clipping. Gradients are zeroed.
     */
    public double step(double lr, int microBatches) {
        double norm = gradNorm(1f / microBatches);
        float scale = clippedScale(norm, microBatches);
        step++;
        float bc1 = (float) (1 - Math.pow(beta1, step)), bc2 = (float) (1 - Math.pow(beta2, step));
        float s = scale, rate = (float) lr;
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            float[] mi = m[i], vi = v[i];
            Threads.parallelFor(p.size(), (from, to) ->
                    AdamW.step(p.data(), p.grad(), mi, vi, s, rate, beta1, beta2, eps, weightDecay, bc1, bc2, from, to));
            p.zeroGrad();
        }
        return norm;
    }

    /**
     * The same update on a {@link DeviceStep} holding these parameters' gradients and moments: the norm from the
     * device's Σ g², the same averaging and clipping, AdamW there. Returns the gradient norm before clipping.
     */
    public double step(DeviceStep device, double lr, int microBatches) {
        double norm = Math.sqrt(device.gradSumOfSquares()) * (1f / microBatches);
        step++;
        device.update(clippedScale(norm, microBatches), (float) lr, beta1, beta2, eps, weightDecay, step);
        return norm;
    }

    /**
     * Hands the parameters' values and these moments to a device step that is to train them from now on. It must hold
     * exactly these parameters, by name and size; otherwise a UserException names the first that differs.
     */
    public void startOn(DeviceStep device) {
        Set<String> theirs = new LinkedHashSet<>(device.tensors());
        for (Parameter p : params) {
            if (!theirs.remove(p.name())) {
                throw new UserException("--device: the device step cannot train " + p.name()
                        + " (its methods have no device form for it); use --device cpu");
            }
            if (device.size(p.name()) != p.size()) {
                throw new UserException("--device: the device step's " + p.name() + " has " + device.size(p.name()) + " values, the model's " + p.size());
            }
        }
        if (!theirs.isEmpty()) throw new UserException("--device: the device step trains " + theirs.iterator().next() + ", which this model does not have");
        for (int i = 0; i < params.size(); i++) device.write(params.get(i).name(), params.get(i).data(), m[i], v[i]);
    }

    /** Copies the parameters' values and the moments back from the device step that trains them. */
    public void readFrom(DeviceStep device) {
        for (int i = 0; i < params.size(); i++) device.read(params.get(i).name(), params.get(i).data(), m[i], v[i]);
    }

    /** 1 / microBatches, times the clipping factor when the norm is above the limit (as torch's clip_grad_norm_). */
    private float clippedScale(double norm, int microBatches) {
        float scale = 1f / microBatches;
        double clip = maxGradNorm / (norm + 1e-6);
        if (maxGradNorm > 0 && clip < 1) scale *= (float) clip;
        return scale;
    }

    public int stepCount() { return step; }
    public List<Parameter> parameters() { return params; }
    /** First moments, one array per parameter (for checkpoints). */
    public float[][] firstMoments() { return m; }
    /** Second moments, one array per parameter (for checkpoints). */
    public float[][] secondMoments() { return v; }
    public void restoreStepCount(int steps) { this.step = steps; }
}

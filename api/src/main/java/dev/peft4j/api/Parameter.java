package dev.peft4j.api;

import java.util.Arrays;

/**
 * A trainable tensor: its values, its gradient (same length, accumulated by backward passes and
 * zeroed by the trainer), and a name under which it is saved.
 */
public final class Parameter {
    private final String name;
    private final int[] shape;
    private final float[] data;
    private final float[] grad;

    /** Wraps existing values (e.g. a base weight made trainable), allocating the gradient. */
    public Parameter(String name, int[] shape, float[] data) {
        long size = 1;
        for (int s : shape) size *= s;
        if (size != data.length) {
            throw new IllegalArgumentException(name + ": shape " + Arrays.toString(shape) + " has " + size
                    + " elements but the data has " + data.length);
        }
        this.name = name;
        this.shape = shape.clone();
        this.data = data;
        this.grad = new float[data.length];
    }

    public String name() { return name; }
    public int[] shape() { return shape.clone(); }
    public float[] data() { return data; }
    public float[] grad() { return grad; }
    public int size() { return data.length; }

    public void zeroGrad() {
        Arrays.fill(grad, 0f);
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape);
    }
}

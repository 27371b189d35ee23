package dev.peft4j.api;

import dev.peft4j.api.io.Safetensors.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One installed instance of a method: its config, its trainable parameters, and what is saved.
 * By default the saved tensors are exactly the parameters, under their names.
 */
public interface Adapter {
    PeftConfig config();

    List<Parameter> parameters();

    /** The tensors of an adapter-only checkpoint, by saved name. Methods that reparameterise for training fold here. */
    default List<Tensor> stateToSave() {
        List<Tensor> out = new ArrayList<>();
        for (Parameter p : parameters()) out.add(new Tensor(p.name(), p.shape(), p.data()));
        return out;
    }

    /** Loads saved tensors (as {@link #stateToSave()} names them); a missing or misshapen one is an error naming it. */
    default void loadState(Map<String, Tensor> tensors, String source) {
        for (Parameter p : parameters()) {
            Tensor t = tensors.get(p.name());
            if (t == null) throw new UserException(source + ": tensor " + p.name() + " is missing");
            if (!java.util.Arrays.equals(t.shape(), p.shape())) {
                throw new UserException(source + ": tensor " + p.name() + " has shape " + java.util.Arrays.toString(t.shape())
                        + " but this model needs " + java.util.Arrays.toString(p.shape()));
            }
            System.arraycopy(t.data(), 0, p.data(), 0, p.size());
        }
    }

    /**
     * What this adapter computes in the forms a fused device step may implement ({@link DeviceForm}), or a
     * {@link DeviceForm.Refused} saying why it has none. Empty (the default): none declared, so it runs on the CPU
     * backend only.
     */
    default List<DeviceForm> deviceForms() {
        return List.of();
    }

    /** Whether {@link #merge()} can fold this adapter into the base weights. */
    default boolean canMerge() {
        return false;
    }

    /** Folds the adapter into the base weights and stops its hooks. */
    default void merge() {
        throw new UnsupportedOperationException(config().peftType() + " adapters cannot be merged into the base weights");
    }

    /** Undoes {@link #merge()}. */
    default void unmerge() {
        throw new UnsupportedOperationException(config().peftType() + " adapters cannot be merged into the base weights");
    }
}

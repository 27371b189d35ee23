package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.kernels.DeviceBackend;
import dev.peft4j.kernels.DeviceStep;
import dev.peft4j.kernels.DeviceStepSpec;
import java.io.PrintWriter;
import java.util.Optional;

/**
 * The {@code --device} choice of {@code finetune}, {@code bench train} and {@code compare}: {@code cpu},
 * {@code tornado[:N]} or {@code auto}. The TornadoVM backend is the {@link DeviceBackend} service named
 * {@code tornado}, which only builds made with the {@code tornado} profile provide; without it, or in a JVM
 * without TornadoVM's runtime, {@code tornado} fails with the reason and {@code auto} trains on the CPU.
 */
record TornadoDevice(int index) {
    /** Found once: the backend, or why there is none. */
    private static final DeviceBackend.Found FOUND = DeviceBackend.find("tornado");

    /** The device to use for spec (cpu: empty), or a UserException when tornado was asked for and cannot run. */
    static Optional<TornadoDevice> choose(String spec, PrintWriter out) {
        if (spec.equals("cpu")) return Optional.empty();
        String reason = unavailableReason();
        if (spec.equals("auto")) {
            if (out != null) out.println(reason == null ? "device: auto -> tornado:0" : "device: auto -> cpu (TornadoVM is not available: " + reason + ")");
            return reason == null ? Optional.of(new TornadoDevice(0)) : Optional.empty();
        }
        int index;
        if (spec.equals("tornado")) index = 0;
        else if (spec.startsWith("tornado:") && spec.substring(8).matches("\\d{1,6}")) index = Integer.parseInt(spec.substring(8));
        else throw new UserException("--device: unknown device '" + spec + "' (expected auto, cpu, tornado or tornado:N)");
        if (reason != null) throw new UserException("TornadoVM is not available: " + reason);
        return Optional.of(new TornadoDevice(index));
    }

    /** Null when the TornadoVM backend can run in this JVM; otherwise why not. */
    static String unavailableReason() {
        if (FOUND.backend() == null) {
            return FOUND.whyNot() + (FOUND.whyNot().startsWith("this peft4j was built without") ? " (build with TORNADOVM_HOME set)" : "");
        }
        return FOUND.backend().unavailableReason().orElse(null);
    }

    /** The device form of the step run as plain Java: a check that needs the TornadoVM build but no device. */
    static final TornadoDevice JAVA_FORM = new TornadoDevice(-1);

    /** "backend / platform / device". */
    String describe() {
        try {
            return backend().describe(index);
        } catch (IllegalArgumentException e) {
            throw new UserException("--device: " + e.getMessage());
        }
    }

    /** The training step for spec on this device ({@link DeviceTraining#open} builds spec): close it after use. */
    DeviceStep openTrainer(DeviceStepSpec spec) {
        try {
            return backend().openTrainer(spec, index);
        } catch (IllegalArgumentException e) {
            throw new UserException("--device: " + e.getMessage());
        }
    }

    private static DeviceBackend backend() {
        if (FOUND.backend() == null) throw new UserException("TornadoVM is not available: " + unavailableReason());
        return FOUND.backend();
    }
}

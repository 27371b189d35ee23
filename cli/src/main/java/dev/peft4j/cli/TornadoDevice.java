package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.kernels.DeviceStep;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;

/**
 * The {@code --device} choice of {@code finetune} and {@code bench train}: {@code cpu}, {@code tornado[:N]} or {@code auto}.
 * TornadoVM's backend is reached by reflection through {@code dev.peft4j.kernels.tornado.CliBridge},
 * a class only the {@code tornado} build profile compiles, so that the default build (and a JVM
 * without TornadoVM's flags) runs unchanged and {@code tornado} fails with a clear reason.
 */
record TornadoDevice(int index) {
    private static final String BRIDGE = "dev.peft4j.kernels.tornado.CliBridge";

    /** The device to use for spec (cpu: empty), or a UserException when tornado was asked for and cannot run. */
    static java.util.Optional<TornadoDevice> choose(String spec, java.io.PrintWriter out) {
        if (spec.equals("cpu")) return java.util.Optional.empty();
        String reason = unavailableReason();
        if (spec.equals("auto")) {
            if (out != null) out.println(reason == null ? "device: auto -> tornado:0" : "device: auto -> cpu (TornadoVM is not available: " + reason + ")");
            return reason == null ? java.util.Optional.of(new TornadoDevice(0)) : java.util.Optional.empty();
        }
        int index;
        if (spec.equals("tornado")) index = 0;
        else if (spec.startsWith("tornado:") && spec.substring(8).matches("\\d{1,6}")) index = Integer.parseInt(spec.substring(8));
        else throw new UserException("--device: unknown device '" + spec + "' (expected auto, cpu, tornado or tornado:N)");
        if (reason != null) throw new UserException("TornadoVM is not available: " + reason);
        return java.util.Optional.of(new TornadoDevice(index));
    }

    /** Null when the TornadoVM backend can run in this JVM; otherwise why not. */
    static String unavailableReason() {
        try {
            return (String) bridge("unavailableReason").invoke(null);
        } catch (ClassNotFoundException e) {
            return "this peft4j was built without its TornadoVM backend (build with TORNADOVM_HOME set)";
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            Throwable cause = e instanceof InvocationTargetException i ? i.getCause() : e;
            return "its runtime could not be loaded (" + cause + "); run on the class path with the flags of `tornado --printJavaFlags`";
        }
    }

    /** The device form of the step run as plain Java: a check that needs the TornadoVM build but no device. */
    static final TornadoDevice JAVA_FORM = new TornadoDevice(-1);

    /** "backend / platform / device". */
    String describe() {
        return index < 0 ? "Java (the device form run as plain Java)" : (String) call("describe", index);
    }

    /** A training step for a run (see CliBridge.openTrainer and {@link DeviceTraining#open}): close it after use. */
    DeviceStep openTrainer(int[] shape, float eps, double[] invFreq, int rank, float scaling, java.util.List<String> loraModules,
                           int adapterLen, int adapterStart, int prefixLen, int prefixHidden,
                           float[] embed, float[][][] layers, float[] finalNorm, float[] head) {
        return (DeviceStep) call("openTrainer", shape, eps, invFreq, rank, scaling, loraModules, adapterLen, adapterStart, prefixLen,
                prefixHidden, embed, layers, finalNorm, head, index);
    }

    private static Method bridge(String name) throws ClassNotFoundException {
        for (Method m : Class.forName(BRIDGE).getMethods()) if (m.getName().equals(name)) return m;
        throw new IllegalStateException(BRIDGE + " has no method " + name);
    }

    private static Object call(String name, Object... args) {
        try {
            return bridge(name).invoke(null, args);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof IllegalArgumentException bad) throw new UserException("--device: " + bad.getMessage());
            throw new IllegalStateException("TornadoVM failed: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }
}
